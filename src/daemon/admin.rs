//! Platform administration: users, plans, settings. Plans are listed to
//! everyone; the rest needs a platform admin.

use axum::Json;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;

use super::State;
use super::auth::Caller;
use super::error::{ApiError, Body};
use crate::api;
use crate::error::{Result, invalid};
use crate::settings::{self, Kind};
use crate::store::{self, Db, Plan, PlanSpec, User};
use crate::units::{Money, format_cpu, format_memory, parse_cpu, parse_memory};

type R<T> = std::result::Result<T, ApiError>;

fn user(u: &User) -> api::User {
    api::User {
        email: u.email.clone(),
        is_admin: u.is_admin,
        created_at: api::time(u.created_at),
    }
}

pub async fn users(S(state): S<State>, caller: Caller) -> R<Json<Vec<api::User>>> {
    caller.require_admin()?;
    let list = state.store.read(|db| db.users()).await?;
    Ok(Json(list.iter().map(user).collect()))
}

pub async fn create_user(
    S(state): S<State>,
    caller: Caller,
    Body(req): Body<api::CreateUser>,
) -> R<(StatusCode, Json<api::CreatedUser>)> {
    caller.require_admin()?;
    let (u, secret) = state
        .store
        .write(move |db| {
            let now = store::now();
            let u = db.create_user(&req.email, req.admin, now)?;
            let (_, secret) = db.create_token(u.id, "initial", now)?;
            Ok((u, secret))
        })
        .await?;
    tracing::info!(email = %u.email, admin = u.is_admin, "user created");
    Ok((
        StatusCode::CREATED,
        Json(api::CreatedUser {
            user: user(&u),
            token: secret,
        }),
    ))
}

fn plan(p: &Plan, default: &str) -> api::Plan {
    api::Plan {
        name: p.name.clone(),
        cpu: format_cpu(p.cpu_millis),
        memory: format_memory(p.memory_mb),
        memory_mb: p.memory_mb,
        max_replicas: p.max_replicas,
        price_hourly: p.price_hourly.format(6),
        price_monthly: p.price_hourly.times(730).format(2),
        features: p.features.clone(),
        default: p.name == default,
    }
}

pub async fn plans(S(state): S<State>, _caller: Caller) -> R<Json<Vec<api::Plan>>> {
    let default = state.settings.get().default_plan.clone();
    let list = state
        .store
        .read(move |db| Ok(db.plans()?.iter().map(|p| plan(p, &default)).collect()))
        .await?;
    Ok(Json(list))
}

/// Parses what the user typed; every figure is checked before anything is stored.
fn spec(req: &api::PlanSpec) -> Result<PlanSpec> {
    Ok(PlanSpec {
        cpu_millis: req.cpu.as_deref().map(parse_cpu).transpose()?,
        memory_mb: req.memory.as_deref().map(parse_memory).transpose()?,
        max_replicas: req.max_replicas,
        price_hourly: req
            .price_hourly
            .as_deref()
            .map(|p| Money::parse("hourly price", p))
            .transpose()?,
        features: req.features.clone(),
    })
}

pub async fn create_plan(
    S(state): S<State>,
    caller: Caller,
    Body(req): Body<api::PlanSpec>,
) -> R<(StatusCode, Json<api::Plan>)> {
    caller.require_admin()?;
    let default = state.settings.get().default_plan.clone();
    let p = state
        .store
        .write(move |db| {
            let name = req
                .name
                .clone()
                .ok_or_else(|| invalid("a new plan needs a name"))?;
            let s = spec(&req)?;
            let p = db.create_plan(&name, &s, store::now())?;
            Ok(plan(&p, &default))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(p)))
}

pub async fn update_plan(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::PlanSpec>,
) -> R<Json<api::Plan>> {
    caller.require_admin()?;
    let default = state.settings.get().default_plan.clone();
    let p = state
        .store
        .write(move |db| {
            let s = spec(&req)?;
            if s.cpu_millis.is_none()
                && s.memory_mb.is_none()
                && s.max_replicas.is_none()
                && s.price_hourly.is_none()
                && s.features.is_none()
            {
                return Err(invalid(
                    "nothing to change: give --cpu, --memory, --max-replicas, --price-hourly or --feature",
                ));
            }
            let p = db.update_plan(&name, &s, store::now())?;
            Ok(plan(&p, &default))
        })
        .await?;
    Ok(Json(p))
}

pub async fn remove_plan(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<StatusCode> {
    caller.require_admin()?;
    state.store.write(move |db| db.remove_plan(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub const MASK: &str = "********";

fn setting_view(db: &Db, def: &settings::Def) -> Result<api::Setting> {
    let value = db.setting(def.key)?;
    let shown = if def.secret && !value.is_empty() {
        MASK.to_string()
    } else {
        value
    };
    Ok(api::Setting {
        key: def.key.into(),
        category: def.category.into(),
        value: shown,
        default: def.default.into(),
        secret: def.secret,
        allowed: def.kind.describe(),
        description: def.description.into(),
    })
}

pub async fn settings(S(state): S<State>, caller: Caller) -> R<Json<Vec<api::Setting>>> {
    caller.require_admin()?;
    let list = state
        .store
        .read(|db| settings::DEFS.iter().map(|d| setting_view(db, d)).collect())
        .await?;
    Ok(Json(list))
}

pub async fn setting(
    S(state): S<State>,
    caller: Caller,
    Path(key): Path<String>,
) -> R<Json<api::Setting>> {
    caller.require_admin()?;
    let s = state
        .store
        .read(move |db| setting_view(db, settings::lookup(&key)?))
        .await?;
    Ok(Json(s))
}

pub async fn set_setting(
    S(state): S<State>,
    caller: Caller,
    Path(key): Path<String>,
    Body(req): Body<api::SetSetting>,
) -> R<Json<api::Setting>> {
    caller.require_admin()?;
    let s = state
        .store
        .write(move |db| {
            let def = settings::lookup(&key)?;
            let value = settings::normalize(def, &req.value)?;
            if matches!(def.kind, Kind::Plan) {
                db.plan_named(&value)?;
            }
            db.put_setting(def, &value, store::now())?;
            setting_view(db, def)
        })
        .await?;
    tracing::info!(key = %s.key, "setting changed");
    settings_changed(&state, &s.key).await;
    Ok(Json(s))
}

/// After a setting changed: every reader gets the new snapshot first, then
/// the loops that act on settings are woken — default_domain, panel_domain
/// and the router's limits apply at once, the ACME worker looks again (a
/// new directory, renewal window, panel), a new log retention applies now,
/// and the health monitor takes a new interval.
async fn settings_changed(state: &State, key: &str) {
    // The change is stored; a reload that fails is logged, not the answer.
    if let Err(e) = state.settings.reload(&state.store).await {
        tracing::error!(error = %e, "cannot reload the settings");
    }
    state.routes_changed.notify_one();
    state.acme.wake.notify_one();
    state.retention_wake.notify_one();
    if key.starts_with("health_") {
        state.health.wake.notify_one();
    }
}

pub async fn unset_setting(
    S(state): S<State>,
    caller: Caller,
    Path(key): Path<String>,
) -> R<Json<api::Setting>> {
    caller.require_admin()?;
    let s = state
        .store
        .write(move |db| {
            let def = settings::lookup(&key)?;
            if matches!(def.kind, Kind::Plan) && !def.default.is_empty() {
                db.plan_named(def.default)?;
            }
            db.delete_setting(def)?;
            setting_view(db, def)
        })
        .await?;
    tracing::info!(key = %s.key, "setting reset to its default");
    settings_changed(&state, &s.key).await;
    Ok(Json(s))
}
