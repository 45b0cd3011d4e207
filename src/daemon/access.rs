//! The caller's own account: whoami and API tokens.

use axum::Json;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;

use super::State;
use super::auth::Caller;
use super::error::{ApiError, Body};
use crate::api;
use crate::store::{self, Token};

type R<T> = Result<T, ApiError>;

pub(super) fn token(t: &Token) -> api::Token {
    api::Token {
        id: t.id,
        name: t.name.clone(),
        prefix: t.prefix.clone(),
        created_at: api::time(t.created_at),
        last_used_at: t.last_used_at.map(api::time),
        revoked_at: t.revoked_at.map(api::time),
    }
}

pub async fn whoami(S(state): S<State>, caller: Caller) -> R<Json<api::Whoami>> {
    let uid = caller.user.id;
    let orgs = state.store.read(move |db| db.orgs_of(uid)).await?;
    Ok(Json(api::Whoami {
        email: caller.user.email,
        is_admin: caller.user.is_admin,
        orgs: orgs
            .into_iter()
            .map(|o| api::OrgRole {
                org: o.name,
                role: o.role.map(|r| r.as_str()).unwrap_or("").into(),
            })
            .collect(),
    }))
}

pub async fn tokens(S(state): S<State>, caller: Caller) -> R<Json<Vec<api::Token>>> {
    let uid = caller.user.id;
    let list = state.store.read(move |db| db.tokens_of(uid)).await?;
    Ok(Json(list.iter().map(token).collect()))
}

pub async fn create_token(
    S(state): S<State>,
    caller: Caller,
    Body(req): Body<api::CreateToken>,
) -> R<(StatusCode, Json<api::CreatedToken>)> {
    let uid = caller.user.id;
    let name = req.name.unwrap_or_else(|| "cli".to_string());
    let (t, secret) = state
        .store
        .write(move |db| db.create_token(uid, &name, store::now()))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(api::CreatedToken {
            token: token(&t),
            secret,
        }),
    ))
}

pub async fn revoke_token(
    S(state): S<State>,
    caller: Caller,
    Path(id): Path<String>,
) -> R<Json<api::Token>> {
    let uid = caller.user.id;
    let id: i64 = id.parse().map_err(|_| {
        crate::error::invalid(format!(
            "token id \"{}\" is not a number: run `skypanel tokens` to see the ids",
            crate::validate::printable(&id)
        ))
    })?;
    let t = state
        .store
        .write(move |db| db.revoke_token(uid, id, store::now()))
        .await?;
    Ok(Json(token(&t)))
}
