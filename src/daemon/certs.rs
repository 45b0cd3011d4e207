//! TLS certificates of an app's hostnames: list, bring your own, ACME, remove,
//! and the HTTPS redirect switch.

use axum::Json;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;

use super::State;
use super::auth::{Caller, app_access};
use super::error::{ApiError, Body};
use crate::api;
use crate::error::{Error, invalid};
use crate::store::{self, App, CertFacts, Db};

type R<T> = std::result::Result<T, ApiError>;

pub(crate) fn certs_view(db: &Db, app: &App) -> crate::error::Result<api::Certs> {
    let rows = db.certs(app)?;
    let certs = db
        .app_hostnames(app)?
        .into_iter()
        .map(|h| match rows.iter().find(|c| c.hostname == h) {
            None => api::CertState {
                hostname: h,
                status: api::CertStatus::None,
                source: None,
                expires_at: None,
                issuer: None,
                error: None,
                retry_at: None,
            },
            Some(c) => api::CertState {
                hostname: h,
                status: c.status,
                source: Some(c.source.clone()),
                expires_at: c.not_after.map(api::time),
                issuer: c.issuer.clone(),
                error: c.error.clone(),
                retry_at: (c.error.is_some() && c.next_attempt > 0)
                    .then(|| api::time(c.next_attempt)),
            },
        })
        .collect();
    Ok(api::Certs {
        app: app.name.clone(),
        https_redirect: db.https_redirect(app)?,
        certs,
    })
}

pub async fn list(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::Certs>> {
    let v = state
        .store
        .read(move |db| {
            let app = app_access(db, &caller, &name)?;
            certs_view(db, &app)
        })
        .await?;
    Ok(Json(v))
}

/// Largest PEM accepted (a long chain with a 4096-bit key is ~10 KiB).
const MAX_PEM: usize = 256 * 1024;

pub async fn add(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::AddCert>,
) -> R<(StatusCode, Json<api::Certs>)> {
    if req.certificate.len() > MAX_PEM || req.private_key.len() > MAX_PEM {
        return Err(invalid(
            "the certificate or key file is larger than 256 KiB: give the PEM certificate chain and its key",
        )
        .into());
    }
    let parsed = crate::tls::parse(&req.certificate, &req.private_key)?;
    let now = store::now();
    if parsed.not_after <= now {
        return Err(invalid(format!(
            "the certificate expired on {}: give a current certificate",
            api::time(parsed.not_after)
        ))
        .into());
    }
    let v = state
        .store
        .write(move |db| {
            let app = app_access(db, &caller, &name)?;
            let hosts = db.app_hostnames(&app)?;
            let covered: Vec<&String> = hosts.iter().filter(|h| parsed.covers(h)).collect();
            if covered.is_empty() {
                return Err(invalid(format!(
                    "the certificate is for {} and covers none of {}'s hostnames ({}): add the domain \
                     first with `skypanel domains:add -a {} DOMAIN`, or give a certificate for one of them",
                    if parsed.names.is_empty() {
                        "no DNS name".to_string()
                    } else {
                        parsed.names.join(", ")
                    },
                    app.name,
                    hosts.join(", "),
                    app.name
                )));
            }
            for h in covered {
                db.put_cert(
                    Some(&app),
                    h,
                    "manual",
                    &CertFacts {
                        chain_pem: &req.certificate,
                        key_pem: &req.private_key,
                        not_before: parsed.not_before,
                        not_after: parsed.not_after,
                        issuer: &parsed.issuer,
                        serial: &parsed.serial,
                    },
                    now,
                )?;
            }
            certs_view(db, &app)
        })
        .await?;
    state.routes_changed.notify_one();
    tracing::info!(app = %v.app, "certificate added");
    Ok((StatusCode::CREATED, Json(v)))
}

pub async fn auto(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::AutoCert>,
) -> R<(StatusCode, Json<api::Certs>)> {
    let v = state
        .store
        .write(move |db| {
            let app = app_access(db, &caller, &name)?;
            let hosts = db.app_hostnames(&app)?;
            let wanted = match req.hostname.as_deref().map(str::trim) {
                None | Some("") => hosts,
                Some(h) => {
                    if !hosts.iter().any(|x| x == h) {
                        return Err(Error::NotFound(format!(
                            "{} does not answer at \"{}\": its hostnames are {} (add one with \
                             `skypanel domains:add -a {} DOMAIN`)",
                            app.name,
                            crate::validate::printable(h),
                            hosts.join(", "),
                            app.name
                        )));
                    }
                    if let Some(c) = db.cert(h)? {
                        if c.source == "manual" {
                            return Err(Error::Conflict(format!(
                                "{h} has a certificate you added: remove it first with \
                                 `skypanel certs:remove -a {} {h}`",
                                app.name
                            )));
                        }
                    }
                    vec![h.to_string()]
                }
            };
            db.request_acme(Some(&app), &wanted, store::now())?;
            certs_view(db, &app)
        })
        .await?;
    state.acme.wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(v)))
}

pub async fn remove(
    S(state): S<State>,
    caller: Caller,
    Path((name, hostname)): Path<(String, String)>,
) -> R<Json<api::Certs>> {
    let v = state
        .store
        .write(move |db| {
            let app = app_access(db, &caller, &name)?;
            db.remove_cert(&app, &hostname)?;
            certs_view(db, &app)
        })
        .await?;
    state.routes_changed.notify_one();
    Ok(Json(v))
}

pub async fn set_redirect(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::HttpsRedirect>,
) -> R<Json<api::Certs>> {
    let v = state
        .store
        .write(move |db| {
            let app = app_access(db, &caller, &name)?;
            db.set_https_redirect(&app, req.enabled)?;
            certs_view(db, &app)
        })
        .await?;
    state.routes_changed.notify_one();
    Ok(Json(v))
}
