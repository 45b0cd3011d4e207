//! Wallets: balance and burn, the ledger, and (admins) credits and debits.

use anyhow::Result;
use clap::Args;

use super::JsonFlag;
use super::client::{Client, seg};
use super::output::{self, opt};
use crate::api;

#[derive(Args, Debug)]
pub struct OrgArgs {
    #[arg(short = 'o', long = "org")]
    pub org: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn billing(a: OrgArgs) -> Result<()> {
    let b: api::Billing = Client::from_login()?
        .get(&format!("/orgs/{}/billing", seg(&a.org)))
        .await?;
    if a.json.json {
        return output::json(&b);
    }
    let c = &b.currency;
    println!("=== {} billing", b.org);
    println!("Balance:   {} {c}", b.balance);
    println!(
        "Burn now:  {} {c}/hour ({} replica{})",
        b.burn_hourly,
        b.replicas,
        if b.replicas == 1 { "" } else { "s" }
    );
    match b.runway_hours {
        Some(h) => println!("Runway:    {h:.1} hours ({:.1} days)", h / 24.0),
        None => println!("Runway:    unlimited (nothing billed now)"),
    }
    match &b.suspended_at {
        Some(at) => println!(
            "Status:    suspended since {at}: apps are scaled to zero until an admin adds credit"
        ),
        None => println!("Status:    {}", b.status),
    }
    println!(
        "Unbilled:  {} {c} ({} replica-minutes since {})",
        b.unbilled,
        b.unbilled_replica_minutes,
        b.billed_until.as_deref().unwrap_or("the first sample")
    );
    Ok(())
}

pub async fn transactions(a: OrgArgs) -> Result<()> {
    let list: Vec<api::Transaction> = Client::from_login()?
        .get(&format!("/orgs/{}/billing/transactions", seg(&a.org)))
        .await?;
    if a.json.json {
        return output::json(&list);
    }
    if list.is_empty() {
        println!("{} has no transactions yet.", a.org);
        return Ok(());
    }
    output::table(
        ["id", "time", "kind", "amount", "balance", "by", "note"],
        list.iter().map(|t| {
            [
                t.id.to_string(),
                t.at.clone(),
                t.kind.clone(),
                t.amount.clone(),
                t.balance.clone(),
                opt(&t.by),
                t.note.clone(),
            ]
        }),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct ChangeArgs {
    #[arg(short = 'o', long = "org")]
    pub org: String,
    /// A positive amount, like 25.00
    #[arg(allow_hyphen_values = true)]
    pub amount: String,
    /// Why (shown in billing:transactions)
    #[arg(long, default_value = "")]
    pub note: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

async fn change(a: ChangeArgs, what: &str) -> Result<()> {
    let t: api::Transaction = Client::from_login()?
        .post(
            &format!("/admin/orgs/{}/{what}s", seg(&a.org)),
            &api::LedgerChange {
                amount: a.amount,
                note: a.note,
            },
        )
        .await?;
    if a.json.json {
        return output::json(&t);
    }
    println!(
        "{} {} {}; its balance is now {}.",
        if what == "credit" {
            "Credited"
        } else {
            "Debited"
        },
        a.org,
        t.amount.trim_start_matches('-'),
        t.balance
    );
    Ok(())
}

pub async fn credit(a: ChangeArgs) -> Result<()> {
    change(a, "credit").await
}

pub async fn debit(a: ChangeArgs) -> Result<()> {
    change(a, "debit").await
}

/// `admin orgs`: every organization with members, apps, balance and status.
pub async fn admin_orgs(j: JsonFlag) -> Result<()> {
    let list: Vec<api::AdminOrg> = Client::from_login()?.get("/admin/orgs").await?;
    if j.json {
        return output::json(&list);
    }
    output::table(
        ["name", "members", "apps", "balance", "status", "created"],
        list.iter().map(|o| {
            [
                o.name.clone(),
                o.members.to_string(),
                o.apps.to_string(),
                o.balance.clone(),
                o.status.clone(),
                o.created_at.clone(),
            ]
        }),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct UsageArgs {
    #[arg(short = 'o', long = "org")]
    pub org: String,
    /// From this day or time (UTC; default: the start of this month)
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this day (included) or time (UTC; default: now)
    #[arg(long)]
    pub to: Option<String>,
    /// Group by app, hour or day
    #[arg(long, default_value = "app")]
    pub by: String,
    #[command(flatten)]
    pub json: JsonFlag,
    /// Print CSV
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

/// One CSV field, quoted when it needs to be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_row<S: AsRef<str>>(fields: impl IntoIterator<Item = S>) {
    let f: Vec<String> = fields.into_iter().map(|s| csv_field(s.as_ref())).collect();
    println!("{}", f.join(","));
}

pub async fn usage(a: UsageArgs) -> Result<()> {
    let path = format!("/orgs/{}/billing/usage", seg(&a.org));
    let query = api::UsageQuery {
        from: a.from.clone(),
        to: a.to.clone(),
        by: Some(a.by.clone()),
    };
    let u: api::Usage = Client::from_login()?.get_query(&path, &query).await?;
    if a.json.json {
        return output::json(&u);
    }
    if a.csv {
        csv_row([
            u.by.as_str(),
            "plans",
            "hours",
            "replica_minutes",
            "cost",
            "currency",
        ]);
        for l in &u.lines {
            csv_row([
                l.key.clone(),
                l.plans.join(" "),
                l.hours.to_string(),
                l.replica_minutes.to_string(),
                l.cost.clone(),
                u.currency.clone(),
            ]);
        }
        return Ok(());
    }
    println!("=== {} usage from {} to {}", u.org, u.from, u.to);
    if u.lines.is_empty() {
        println!("Nothing was billed in this window.");
        return Ok(());
    }
    output::table(
        [u.by.as_str(), "plans", "hours", "replica-minutes", "cost"],
        u.lines.iter().map(|l| {
            [
                l.key.clone(),
                l.plans.join(", "),
                l.hours.to_string(),
                l.replica_minutes.to_string(),
                format!("{} {}", l.cost, u.currency),
            ]
        }),
    );
    println!(
        "Total: {} {} ({} replica-minutes)",
        u.total, u.currency, u.replica_minutes
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct StatementArgs {
    #[arg(short = 'o', long = "org")]
    pub org: String,
    /// The month, as YYYY-MM (default: this month)
    #[arg(long)]
    pub month: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
    /// Print CSV: one line per app and per credit or debit
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

pub async fn statement(a: StatementArgs) -> Result<()> {
    let path = format!("/orgs/{}/billing/statement", seg(&a.org));
    let query = api::StatementQuery {
        month: a.month.clone(),
    };
    let s: api::Statement = Client::from_login()?.get_query(&path, &query).await?;
    if a.json.json {
        return output::json(&s);
    }
    let c = &s.currency;
    if a.csv {
        csv_row([
            "kind",
            "item",
            "time",
            "replica_minutes",
            "amount",
            "currency",
        ]);
        csv_row([
            "opening_balance",
            "",
            s.from.as_str(),
            "",
            s.opening_balance.as_str(),
            c,
        ]);
        for l in &s.apps {
            let amount = format!("-{}", l.cost);
            csv_row([
                "usage",
                l.key.as_str(),
                "",
                &l.replica_minutes.to_string(),
                if l.cost == "0.00" {
                    l.cost.as_str()
                } else {
                    amount.as_str()
                },
                c,
            ]);
        }
        for e in &s.entries {
            csv_row([
                e.kind.as_str(),
                e.note.as_str(),
                e.at.as_str(),
                "",
                e.amount.as_str(),
                c,
            ]);
        }
        csv_row([
            "closing_balance",
            "",
            s.to.as_str(),
            "",
            s.closing_balance.as_str(),
            c,
        ]);
        return Ok(());
    }
    println!(
        "=== {} statement for {} ({} to {})",
        s.org, s.month, s.from, s.to
    );
    println!("Opening balance:  {} {c}", s.opening_balance);
    println!("Credits:         +{} {c}", s.credits);
    println!("Debits:          -{} {c}", s.debits);
    println!("Usage:           -{} {c}", s.usage);
    println!("Closing balance:  {} {c}", s.closing_balance);
    if !s.apps.is_empty() {
        println!();
        output::table(
            ["app", "plans", "hours", "replica-minutes", "cost"],
            s.apps.iter().map(|l| {
                [
                    l.key.clone(),
                    l.plans.join(", "),
                    l.hours.to_string(),
                    l.replica_minutes.to_string(),
                    format!("{} {c}", l.cost),
                ]
            }),
        );
    }
    if !s.entries.is_empty() {
        println!();
        output::table(
            ["time", "kind", "amount", "by", "note"],
            s.entries.iter().map(|t| {
                [
                    t.at.clone(),
                    t.kind.clone(),
                    t.amount.clone(),
                    opt(&t.by),
                    t.note.clone(),
                ]
            }),
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Bill only hours that ended by this time (UTC, like 2026-11-24T10:00Z; default: now)
    #[arg(long)]
    pub until: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn run(a: RunArgs) -> Result<()> {
    let r: api::BillingRunReport = Client::from_login()?
        .post("/admin/billing/run", &api::BillingRun { until: a.until })
        .await?;
    if a.json.json {
        return output::json(&r);
    }
    if r.hours.is_empty() {
        println!(
            "No hour to bill: every hour before {} is billed.",
            r.billed_until.as_deref().unwrap_or("the first sample")
        );
    } else {
        println!(
            "Billed {} hour{} ({} to {}): {} app-hours, {} {} in {:.0} ms.",
            r.hours.len(),
            if r.hours.len() == 1 { "" } else { "s" },
            r.hours[0],
            r.billed_until.as_deref().unwrap_or("?"),
            r.apps,
            r.billed,
            r.currency,
            r.ms
        );
    }
    for o in &r.suspended {
        println!("Suspended {o}: its balance is at or below the threshold.");
    }
    for o in &r.resumed {
        println!("Resumed {o}.");
    }
    Ok(())
}
