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
    println!("Status:    {}", b.status);
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
