//! Custom domains and maintenance mode (what the router routes by).

use axum::Json;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;

use super::State;
use super::auth::{Caller, app_access};
use super::error::{ApiError, Body};
use crate::api;
use crate::store::{self, App, Db, Domain};

type R<T> = std::result::Result<T, ApiError>;

fn view(d: &Domain) -> api::Domain {
    api::Domain {
        hostname: d.hostname.clone(),
        app: d.app.clone(),
        created_at: api::time(d.created_at),
    }
}

fn domains_view(db: &Db, app: &App, domain: &str) -> crate::error::Result<api::Domains> {
    Ok(api::Domains {
        default: format!("{}.{}", app.name, domain),
        custom: db.domains(app)?.iter().map(view).collect(),
    })
}

pub async fn list(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::Domains>> {
    let domain = state.settings.get().default_domain.clone();
    let v = state
        .store
        .read(move |db| {
            let app = app_access(db, &caller, &name)?;
            domains_view(db, &app, &domain)
        })
        .await?;
    Ok(Json(v))
}

pub async fn add(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::AddDomain>,
) -> R<(StatusCode, Json<api::Domain>)> {
    let acme = state.settings.get().acme_enabled;
    let d = state
        .store
        .write(move |db| {
            let app = app_access(db, &caller, &name)?;
            let d = db.add_domain(&app, req.hostname.trim(), store::now())?;
            if acme {
                db.request_acme(Some(&app), std::slice::from_ref(&d.hostname), store::now())?;
            }
            Ok(d)
        })
        .await?;
    state.routes_changed.notify_one();
    state.acme.wake.notify_one();
    tracing::info!(app = %d.app, domain = %d.hostname, "domain added");
    Ok((StatusCode::CREATED, Json(view(&d))))
}

pub async fn remove(
    S(state): S<State>,
    caller: Caller,
    Path((name, hostname)): Path<(String, String)>,
) -> R<Json<api::Domains>> {
    let domain = state.settings.get().default_domain.clone();
    let v = state
        .store
        .write(move |db| {
            let app = app_access(db, &caller, &name)?;
            db.remove_domain(&app, &hostname)?;
            db.forget_stray_certs(&app)?;
            domains_view(db, &app, &domain)
        })
        .await?;
    state.routes_changed.notify_one();
    Ok(Json(v))
}

pub async fn maintenance(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::Maintenance>> {
    let enabled = state
        .store
        .read(move |db| {
            let app = app_access(db, &caller, &name)?;
            db.maintenance(&app)
        })
        .await?;
    Ok(Json(api::Maintenance { enabled }))
}

pub async fn set_maintenance(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::Maintenance>,
) -> R<Json<api::Maintenance>> {
    let n = name.clone();
    state
        .store
        .write(move |db| {
            let app = app_access(db, &caller, &n)?;
            db.set_maintenance(&app, req.enabled)
        })
        .await?;
    state.routes_changed.notify_one();
    tracing::info!(app = %name, enabled = req.enabled, "maintenance mode");
    Ok(Json(api::Maintenance {
        enabled: req.enabled,
    }))
}
