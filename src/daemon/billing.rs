//! Wallets and billing: balance and burn, transactions, usage, statements,
//! admin credits and debits, the sweep on demand, every org's wallet.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::{Path, Query, State as S};
use axum::http::StatusCode;

use super::State;
use super::auth::{Caller, org_access};
use super::error::{ApiError, Body};
use crate::api;
use crate::error::{Error, Result};
use crate::store;
use crate::units::{Money, civil, parse_utc};

type R<T> = std::result::Result<T, ApiError>;

fn transaction(e: store::Entry) -> api::Transaction {
    api::Transaction {
        id: e.id,
        at: api::time(e.at),
        kind: e.kind,
        amount: e.amount.format(6),
        balance: e.balance.format(6),
        note: e.note,
        by: e.created_by,
    }
}

/// The org's wallet: balance, what it burns per hour now, runway, status,
/// and what was metered since the last billed hour.
pub async fn billing(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::Billing>> {
    let currency = state.settings.get().billing_currency.clone();
    let b = state
        .store
        .read(move |db| {
            let (o, _) = org_access(db, &caller, &name)?;
            let balance = db.balance(o.id)?;
            let (burn, replicas) = db.burn(o.id)?;
            let runway = (burn.0 > 0).then(|| {
                let h = balance.0.max(0) as f64 / burn.0 as f64;
                (h * 10.0).floor() / 10.0
            });
            let flags = db.org_billing(o.id)?;
            let progress = db.billing_progress()?;
            let from = progress.swept_until.unwrap_or(0).div_euclid(60);
            let (unbilled_rm, unbilled) = db.unbilled(o.id, from)?;
            Ok(api::Billing {
                org: o.name,
                currency,
                balance: balance.format(6),
                burn_hourly: burn.format(6),
                replicas,
                runway_hours: runway,
                status: status(flags.suspended_at.is_some()),
                suspended_at: flags.suspended_at.map(api::time),
                unbilled: unbilled.format(6),
                unbilled_replica_minutes: unbilled_rm,
                billed_until: progress.swept_until.map(api::time),
            })
        })
        .await?;
    Ok(Json(b))
}

fn status(suspended: bool) -> String {
    if suspended { "suspended" } else { "active" }.into()
}

pub async fn transactions(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<Vec<api::Transaction>>> {
    let list = state
        .store
        .read(move |db| {
            let (o, _) = org_access(db, &caller, &name)?;
            db.entries(o.id, 1000)
        })
        .await?;
    Ok(Json(list.into_iter().map(transaction).collect()))
}

/// `--from`/`--to`: a date (the whole day; `--to` includes it) or a time.
fn window(q: &api::UsageQuery, now: i64) -> Result<(i64, i64)> {
    let (y, m, _, _, _) = civil(now);
    let month_start = crate::units::days_from_civil(y, m, 1) * 86_400;
    let from = match &q.from {
        Some(v) => parse_utc("--from", v)?,
        None => month_start,
    };
    let to = match &q.to {
        Some(v) => {
            let t = parse_utc("--to", v)?;
            if v.trim().len() == 10 { t + 86_400 } else { t }
        }
        None => now,
    };
    if from >= to {
        return Err(Error::Invalid(format!(
            "--from {} is not before --to {}: give a window that ends after it starts",
            api::time(from),
            api::time(to)
        )));
    }
    Ok((from, to))
}

fn day(t: i64) -> String {
    let (y, m, d, _, _) = civil(t);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Adds billed rows up by `key`.
fn group(
    rows: &[store::UsageRow],
    key: impl Fn(&store::UsageRow) -> String,
) -> Vec<api::UsageLine> {
    let mut acc: BTreeMap<String, (BTreeSet<String>, BTreeSet<i64>, i64, i64)> = BTreeMap::new();
    for r in rows {
        let e = acc.entry(key(r)).or_default();
        e.0.insert(r.plan.clone());
        e.1.insert(r.hour);
        e.2 += r.replica_minutes;
        e.3 += r.cost.0;
    }
    acc.into_iter()
        .map(|(key, (plans, hours, rm, cost))| api::UsageLine {
            key,
            plans: plans.into_iter().collect(),
            hours: hours.len() as i64,
            replica_minutes: rm,
            cost: Money(cost).format(6),
        })
        .collect()
}

/// `billing:usage`: billed hours in a window, by app, hour or day.
pub async fn usage(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<api::UsageQuery>,
) -> R<Json<api::Usage>> {
    let currency = state.settings.get().billing_currency.clone();
    let now = state.billing.clock.now();
    let u = state
        .store
        .read(move |db| {
            let (o, _) = org_access(db, &caller, &name)?;
            let (from, to) = window(&q, now)?;
            let by = q.by.as_deref().unwrap_or("app");
            let rows = db.usage_rows(o.id, from, to)?;
            let lines = match by {
                "app" => group(&rows, |r| r.app.clone()),
                "hour" => group(&rows, |r| api::time(r.hour)),
                "day" => group(&rows, |r| day(r.hour)),
                other => {
                    return Err(Error::Invalid(format!(
                        "--by \"{}\" is not a grouping: use app, hour or day",
                        crate::validate::printable(other)
                    )));
                }
            };
            Ok(api::Usage {
                org: o.name,
                currency,
                from: api::time(from),
                to: api::time(to),
                by: by.into(),
                replica_minutes: rows.iter().map(|r| r.replica_minutes).sum(),
                total: Money(rows.iter().map(|r| r.cost.0).sum()).format(6),
                lines,
            })
        })
        .await?;
    Ok(Json(u))
}

/// `billing:statement --month YYYY-MM`.
pub async fn statement(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<api::StatementQuery>,
) -> R<Json<api::Statement>> {
    let currency = state.settings.get().billing_currency.clone();
    let now = state.billing.clock.now();
    let s = state
        .store
        .read(move |db| {
            let (o, _) = org_access(db, &caller, &name)?;
            let month = q.month.clone().unwrap_or_else(|| {
                let (y, m, _, _, _) = civil(now);
                format!("{y:04}-{m:02}")
            });
            let (from, to) = crate::units::parse_month(&month)?;
            if from > now {
                return Err(Error::Invalid(format!(
                    "month {month} has not started yet: ask for this month or an earlier one"
                )));
            }
            let entries = db.entries_between(o.id, from, to)?;
            let sum = |kind: &str| {
                Money(
                    entries
                        .iter()
                        .filter(|e| e.kind == kind)
                        .map(|e| e.amount.0.abs())
                        .sum(),
                )
            };
            let rows = db.usage_rows(o.id, from, to)?;
            let opening = db.balance_before(o.id, from)?;
            let closing = db.balance_before(o.id, to)?;
            Ok(api::Statement {
                org: o.name,
                currency,
                month: month.trim().to_string(),
                from: api::time(from),
                to: api::time(to),
                opening_balance: opening.format(6),
                credits: sum("credit").format(6),
                debits: sum("debit").format(6),
                usage: sum("usage").format(6),
                closing_balance: closing.format(6),
                apps: group(&rows, |r| r.app.clone()),
                entries: entries
                    .into_iter()
                    .filter(|e| e.kind != "usage")
                    .map(transaction)
                    .collect(),
            })
        })
        .await?;
    Ok(Json(s))
}

/// `admin billing:credit` and `admin billing:debit`.
async fn change(
    state: State,
    caller: Caller,
    name: String,
    req: api::LedgerChange,
    kind: &'static str,
) -> R<(StatusCode, Json<api::Transaction>)> {
    caller.require_admin()?;
    let amount = store::manual_amount(&req.amount)?;
    let note = store::ledger_note(&req.note)?;
    // Dated by the billing clock, like the usage it pays for.
    let now = state.billing.clock.now();
    let e = state
        .store
        .write(move |db| {
            let o = db.org_by_name(&name)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "organization \"{}\" not found: run `skypanel admin orgs` to list them",
                    crate::validate::printable(&name)
                ))
            })?;
            let signed = if kind == "credit" {
                amount
            } else {
                Money(-amount.0)
            };
            let id = db.add_entry(o.id, kind, signed, &note, Some(&caller.user.email), now)?;
            db.entries(o.id, 1)?
                .into_iter()
                .find(|e| e.id == id)
                .map(|e| (o.id, e))
                .ok_or_else(|| Error::Internal("the new ledger entry vanished".into()))
        })
        .await?;
    let (org_id, e) = e;
    tracing::info!(entry = e.id, kind, "wallet changed by an admin");
    // A credit may resume the org, a debit suspend it or raise the alert.
    if let Err(err) = state.billing.check_org(&state.runtime, org_id).await {
        tracing::error!(error = %err, "billing: cannot check the wallet after a change");
    }
    Ok((StatusCode::CREATED, Json(transaction(e))))
}

pub async fn credit(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::LedgerChange>,
) -> R<(StatusCode, Json<api::Transaction>)> {
    change(state, caller, name, req, "credit").await
}

pub async fn debit(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::LedgerChange>,
) -> R<(StatusCode, Json<api::Transaction>)> {
    change(state, caller, name, req, "debit").await
}

/// `admin orgs`: every org, its members, apps, balance and status.
pub async fn all(S(state): S<State>, caller: Caller) -> R<Json<Vec<api::AdminOrg>>> {
    caller.require_admin()?;
    let list = state.store.read(|db| db.orgs_with_balances()).await?;
    Ok(Json(
        list.into_iter()
            .map(|(o, balance, suspended)| api::AdminOrg {
                name: o.name,
                members: o.members,
                apps: o.apps,
                balance: balance.format(6),
                status: status(suspended),
                created_at: api::time(o.created_at),
            })
            .collect(),
    ))
}

/// `admin billing:run`: sample now and bill the closed hours before `until`.
pub async fn run(
    S(state): S<State>,
    caller: Caller,
    Body(req): Body<api::BillingRun>,
) -> R<Json<api::BillingRunReport>> {
    caller.require_admin()?;
    let now = state.billing.clock.now();
    let until = match req.until.as_deref() {
        Some(v) => parse_utc("--until", v)?,
        None => now,
    };
    if until > now {
        return Err(Error::Invalid(format!(
            "--until {} is in the future: only hours that have ended can be billed (leave it out to bill up to now)",
            api::time(until)
        ))
        .into());
    }
    let out = state.billing.run(&state.runtime, until).await?;
    let currency = state.settings.get().billing_currency.clone();
    Ok(Json(api::BillingRunReport {
        hours: out.hours.iter().map(|h| api::time(*h)).collect(),
        apps: out.apps,
        billed: out.billed.format(6),
        currency,
        billed_until: out.swept_until.map(api::time),
        ms: out.ms,
        prune_ms: out.prune_ms,
        suspended: out.suspended,
        resumed: out.resumed,
    }))
}
