//! Who is calling, and what they may touch. Every handler starts from a
//! [`Caller`]; org and app lookups go through [`org_access`] and [`app_access`],
//! which answer "not found" for anything outside the caller's orgs, so a
//! stranger cannot tell whether another org's app exists.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::State;
use super::error::ApiError;
use crate::error::{Error, Result, forbidden};
use crate::store::{App, Db, Org, Role, User};

#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
}

impl FromRequestParts<State> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(token) = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
        else {
            return Err(Error::Unauthorized(
                "no API token was sent: run `skypanel login --server URL --token TOKEN`".into(),
            )
            .into());
        };
        let token = token.to_string();
        let user = state
            .store
            .write(move |db| db.authenticate(&token, crate::store::now()))
            .await?;
        match user {
            Some(user) => Ok(Caller { user }),
            None => Err(Error::Unauthorized(
                "the API token is invalid or revoked: log in again with a valid token \
                 (`skypanel login --token TOKEN`)"
                    .into(),
            )
            .into()),
        }
    }
}

impl Caller {
    pub fn require_admin(&self) -> Result<()> {
        if self.user.is_admin {
            Ok(())
        } else {
            Err(forbidden(
                "this needs a platform admin: ask an admin of this SkyPanel server",
            ))
        }
    }
}

/// The org if the caller may see it (member or admin), with the caller's role.
pub fn org_access(db: &Db, caller: &Caller, name: &str) -> Result<(Org, Option<Role>)> {
    let missing = || {
        Error::NotFound(format!(
            "organization \"{}\" not found: run `skypanel orgs` to list yours",
            crate::validate::printable(name)
        ))
    };
    let org = db.org_by_name(name)?.ok_or_else(missing)?;
    let role = db.role_of(org.id, caller.user.id)?;
    if role.is_none() && !caller.user.is_admin {
        return Err(missing());
    }
    Ok((org, role))
}

/// Like [`org_access`], and the caller must be an owner (or an admin).
pub fn org_owner(db: &Db, caller: &Caller, name: &str) -> Result<Org> {
    let (org, role) = org_access(db, caller, name)?;
    if role != Some(Role::Owner) && !caller.user.is_admin {
        return Err(forbidden(format!(
            "only owners of {} can manage its members",
            org.name
        )));
    }
    Ok(org)
}

/// The app if it belongs to one of the caller's orgs (any app for admins).
/// Like [`app_access`], for work that starts or grows tasks: refused
/// (402) while the app's org is suspended for want of funds.
pub fn active_app(db: &Db, caller: &Caller, name: &str) -> Result<App> {
    let app = app_access(db, caller, name)?;
    crate::billing::ensure_active(db, app.org_id)?;
    Ok(app)
}

pub fn app_access(db: &Db, caller: &Caller, name: &str) -> Result<App> {
    let missing = || {
        Error::NotFound(format!(
            "app \"{}\" not found: run `skypanel apps` to list yours",
            crate::validate::printable(name)
        ))
    };
    let app = db.app_by_name(name)?.ok_or_else(missing)?;
    if !caller.user.is_admin && db.role_of(app.org_id, caller.user.id)?.is_none() {
        return Err(missing());
    }
    Ok(app)
}
