//! Wallets: admins credit and debit an org's ledger in exact amounts; members
//! see the balance, what their running apps burn per hour and the runway.

use serde_json::Value;

use crate::common::{Daemon, ensure_images, unique, wait_backends};

fn billing(d: &Daemon, tok: &str, org: &str) -> Value {
    d.cli(tok).json(&["billing", "-o", org, "--json"])
}

fn transactions(d: &Daemon, tok: &str, org: &str) -> Vec<Value> {
    d.cli(tok)
        .json(&["billing:transactions", "-o", org, "--json"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn wallets_take_exact_credits_and_debits_from_admins_and_show_burn_and_runway() {
    ensure_images();
    let d = Daemon::start();
    let email = unique("ann") + "@example.com";
    let ann = d.user(&email, false);
    let org = unique("acme");
    d.cli(&ann).ok(&["orgs:create", &org]);

    let b = billing(&d, &ann, &org);
    assert_eq!(
        (
            b["balance"].as_str(),
            b["burn_hourly"].as_str(),
            b["currency"].as_str()
        ),
        (Some("0.00"), Some("0.00"), Some("USD")),
        "{b}"
    );
    assert!(b["runway_hours"].is_null(), "{b}");
    assert_eq!(b["status"], "active");

    let out = d.admin().ok(&[
        "admin",
        "billing:credit",
        "-o",
        &org,
        "25.00",
        "--note",
        "invoice 118 paid",
    ]);
    assert!(out.contains("balance is now 25.00"), "{out}");
    d.admin().ok(&[
        "admin",
        "billing:debit",
        "-o",
        &org,
        "5.00",
        "--note",
        "manual correction",
    ]);
    // Decimal amounts add up exactly: 0.1 + 0.2 is 0.3.
    d.admin()
        .ok(&["admin", "billing:credit", "-o", &org, "0.1"]);
    d.admin()
        .ok(&["admin", "billing:credit", "-o", &org, "0.2"]);
    assert_eq!(billing(&d, &ann, &org)["balance"], "20.30");
    let t = transactions(&d, &ann, &org);
    let rows: Vec<(String, String, String, String)> = t
        .iter()
        .map(|x| {
            (
                x["kind"].as_str().unwrap_or("").into(),
                x["amount"].as_str().unwrap_or("").into(),
                x["balance"].as_str().unwrap_or("").into(),
                x["note"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let want: Vec<(String, String, String, String)> = [
        ("credit", "0.20", "20.30", ""),
        ("credit", "0.10", "20.10", ""),
        ("debit", "-5.00", "20.00", "manual correction"),
        ("credit", "25.00", "25.00", "invoice 118 paid"),
    ]
    .iter()
    .map(|(a, b, c, e)| (a.to_string(), b.to_string(), c.to_string(), e.to_string()))
    .collect();
    assert_eq!(rows, want);
    assert_eq!(t[0]["by"], "admin@localhost", "{t:?}");
    let table = d.cli(&ann).ok(&["billing:transactions", "-o", &org]);
    assert!(
        table.contains("invoice 118 paid") && table.contains("-5.00"),
        "{table}"
    );

    // Bad input: clear errors, non-zero exit, the ledger unchanged.
    for (tok, args, want) in [
        (
            &d.admin_token,
            vec!["admin", "billing:credit", "-o", &org, "-5"],
            "must be more than 0",
        ),
        (
            &d.admin_token,
            vec!["admin", "billing:credit", "-o", &org, "0"],
            "must be more than 0",
        ),
        (
            &d.admin_token,
            vec!["admin", "billing:credit", "-o", &org, "ten"],
            "amount \"ten\" is not an amount",
        ),
        (
            &d.admin_token,
            vec!["admin", "billing:debit", "-o", &org, "1.0000001"],
            "at most 6 decimals",
        ),
        (
            &d.admin_token,
            vec!["admin", "billing:credit", "-o", "no-such-org", "1"],
            "organization \"no-such-org\" not found",
        ),
        (
            &ann,
            vec!["admin", "billing:credit", "-o", &org, "100"],
            "admin",
        ),
    ] {
        let err = d.cli(tok).fails(&args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(transactions(&d, &ann, &org).len(), 4, "nothing was written");
    assert_eq!(billing(&d, &ann, &org)["balance"], "20.30");
    let all = d.admin().json(&["admin", "orgs", "--json"]);
    let row = all
        .as_array()
        .expect("orgs")
        .iter()
        .find(|o| o["name"] == org.as_str())
        .unwrap_or_else(|| panic!("{org} in admin orgs: {all}"))
        .clone();
    assert_eq!(
        (
            row["members"].as_i64(),
            row["apps"].as_i64(),
            row["balance"].as_str(),
            row["status"].as_str()
        ),
        (Some(1), Some(0), Some("20.30"), Some("active")),
        "{row}"
    );
    let err = d.cli(&ann).fails(&["admin", "orgs"]);
    assert!(err.contains("admin"), "{err}");
    // A stranger cannot see the wallet.
    let stranger = d.user(&(unique("eve") + "@example.com"), false);
    let err = d.cli(&stranger).fails(&["billing", "-o", &org]);
    assert!(err.contains("not found"), "{err}");

    // Burn: two replicas of a 0.0070/h plan cost 0.0140 an hour.
    let plan = unique("small");
    d.admin().ok(&[
        "admin",
        "plans:create",
        &plan,
        "--cpu",
        "0.1",
        "--memory",
        "64M",
        "--max-replicas",
        "3",
        "--price-hourly",
        "0.0070",
    ]);
    let app = unique("metered");
    d.cli(&ann).ok(&[
        "apps:create",
        &app,
        "-o",
        &org,
        "--plan",
        &plan,
        "--no-remote",
    ]);
    d.cli(&ann)
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    d.cli(&ann).ok(&["ps:scale", "-a", &app, "web=2"]);
    wait_backends(&d, &ann, &app, |b| b.len() == 2);
    let b = billing(&d, &ann, &org);
    assert_eq!(b["burn_hourly"], "0.014", "{b}");
    assert_eq!(b["replicas"], 2, "{b}");
    // 20.30 / 0.014 = 1450 hours.
    assert_eq!(b["runway_hours"].as_f64(), Some(1450.0), "{b}");
    let shown = d.cli(&ann).ok(&["billing", "-o", &org]);
    assert!(shown.contains("Runway:    1450.0 hours"), "{shown}");
    d.cli(&ann).ok(&["ps:stop", "-a", &app]);
    assert_eq!(billing(&d, &ann, &org)["burn_hourly"], "0.00");
    d.cli(&ann).ok(&["apps:destroy", &app, "--confirm", &app]);
}
