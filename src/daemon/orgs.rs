//! Organizations and membership.

use axum::Json;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;

use super::State;
use super::auth::{Caller, org_access, org_owner};
use super::error::{ApiError, Body};
use crate::api;
use crate::store::{self, OrgSummary, Role};

type R<T> = Result<T, ApiError>;

fn org(o: OrgSummary) -> api::Org {
    api::Org {
        name: o.name,
        role: o.role.map(|r| r.as_str().to_string()),
        members: o.members,
        apps: o.apps,
        created_at: api::time(o.created_at),
    }
}

pub async fn list(S(state): S<State>, caller: Caller) -> R<Json<Vec<api::Org>>> {
    let uid = caller.user.id;
    let orgs = state.store.read(move |db| db.orgs_of(uid)).await?;
    Ok(Json(orgs.into_iter().map(org).collect()))
}

pub async fn create(
    S(state): S<State>,
    caller: Caller,
    Body(req): Body<api::CreateOrg>,
) -> R<(StatusCode, Json<api::Org>)> {
    let uid = caller.user.id;
    let o = state
        .store
        .write(move |db| {
            let o = db.create_org(&req.name, uid, store::now())?;
            Ok(OrgSummary {
                name: o.name,
                role: Some(Role::Owner),
                members: 1,
                apps: 0,
                created_at: o.created_at,
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(org(o))))
}

fn members_of(db: &store::Db, org_id: i64) -> crate::error::Result<Vec<api::Member>> {
    Ok(db
        .members(org_id)?
        .into_iter()
        .map(|m| api::Member {
            email: m.email,
            role: m.role.as_str().into(),
            added_at: api::time(m.created_at),
        })
        .collect())
}

pub async fn members(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<Vec<api::Member>>> {
    let list = state
        .store
        .read(move |db| {
            let (o, _) = org_access(db, &caller, &name)?;
            members_of(db, o.id)
        })
        .await?;
    Ok(Json(list))
}

pub async fn add_member(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::AddMember>,
) -> R<Json<Vec<api::Member>>> {
    let list = state
        .store
        .write(move |db| {
            let o = org_owner(db, &caller, &name)?;
            let role = Role::parse(&req.role)?;
            let user = db.user_named(&req.email.to_ascii_lowercase())?;
            db.set_member(&o, user.id, role, store::now())?;
            members_of(db, o.id)
        })
        .await?;
    Ok(Json(list))
}

pub async fn remove_member(
    S(state): S<State>,
    caller: Caller,
    Path((name, email)): Path<(String, String)>,
) -> R<Json<Vec<api::Member>>> {
    let list = state
        .store
        .write(move |db| {
            let o = org_owner(db, &caller, &name)?;
            let user = db.user_named(&email.to_ascii_lowercase())?;
            db.remove_member(&o, user.id, &user.email)?;
            members_of(db, o.id)
        })
        .await?;
    Ok(Json(list))
}
