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

fn webhook(w: store::Webhook) -> api::Webhook {
    api::Webhook {
        id: w.id,
        url: w.url,
        events: w.events,
        created_by: w.created_by,
        created_at: api::time(w.created_at),
    }
}

/// Endpoints and their latest deliveries (owners: URLs may carry tokens).
pub async fn webhooks(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::Webhooks>> {
    let out = state
        .store
        .read(move |db| {
            let o = org_owner(db, &caller, &name)?;
            let hooks = db.webhooks(o.id)?;
            let deliveries = db.deliveries(o.id, 50)?;
            Ok(api::Webhooks {
                webhooks: hooks.into_iter().map(webhook).collect(),
                deliveries: deliveries
                    .into_iter()
                    .map(|d| api::Delivery {
                        id: d.id,
                        webhook: d.webhook_id,
                        event: d.event,
                        next_attempt_at: (d.state == "pending").then(|| api::time(d.next_at)),
                        state: d.state,
                        attempts: d.attempts,
                        last_status: d.last_status,
                        last_error: d.last_error,
                        last_attempt_at: d.last_at.map(api::time),
                        created_at: api::time(d.created_at),
                    })
                    .collect(),
            })
        })
        .await?;
    Ok(Json(out))
}

pub async fn add_webhook(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::AddWebhook>,
) -> R<(StatusCode, Json<api::NewWebhook>)> {
    let url = crate::settings::normalize(
        crate::settings::lookup("alert_webhook_url")?,
        req.url.trim(),
    )
    .map_err(|_| {
        crate::error::Error::Invalid(format!(
            "webhook URL \"{}\" is not an http:// or https:// URL: give one like https://example.com/hooks",
            crate::validate::printable(&req.url)
        ))
    })?;
    let secret = crate::webhooks::new_secret()?;
    let s2 = secret.clone();
    let w = state
        .store
        .write(move |db| {
            let o = org_owner(db, &caller, &name)?;
            let events = crate::webhooks::parse_events(&req.events, caller.user.is_admin)?;
            db.add_webhook(o.id, &url, &events, &s2, &caller.user.email, store::now())
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(api::NewWebhook {
            webhook: webhook(w),
            secret,
        }),
    ))
}

pub async fn remove_webhook(
    S(state): S<State>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> R<StatusCode> {
    state
        .store
        .write(move |db| {
            let o = org_owner(db, &caller, &name)?;
            let id: i64 = id.parse().map_err(|_| {
                crate::error::Error::Invalid(format!(
                    "webhook id \"{}\" is not a number: use the ID column of `skypanel orgs:webhooks -o {}`",
                    crate::validate::printable(&id),
                    o.name
                ))
            })?;
            db.remove_webhook(o.id, &o.name, id)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
