//! Wallets: admins credit and debit an org's ledger in exact amounts; members
//! see the balance, what their running apps burn per hour and the runway.

use serde_json::Value;

use crate::common::{Daemon, ensure_images, receiver, unique, wait_backends};

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
    let plan = create_plan(&d, "0.0070");
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
    // 20.30 / 0.014 = 1450 hours (less once a sweep billed these minutes).
    let runway = b["runway_hours"].as_f64().unwrap_or(0.0);
    assert!((1449.0..=1450.0).contains(&runway), "{b}");
    let shown = d.cli(&ann).ok(&["billing", "-o", &org]);
    assert!(shown.contains("Runway:    14"), "{shown}");
    // The daemon's own meter (the system clock: a sample a minute) counts
    // both replicas.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let b = billing(&d, &ann, &org);
        let metered = b["unbilled_replica_minutes"].as_i64().unwrap_or(0);
        let billed: i64 = transactions(&d, &ann, &org)
            .iter()
            .filter(|t| t["kind"] == "usage")
            .count() as i64;
        if metered >= 2 || billed > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no minute was metered: {b}"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    d.cli(&ann).ok(&["ps:stop", "-a", &app]);
    assert_eq!(billing(&d, &ann, &org)["burn_hourly"], "0.00");
    d.cli(&ann).ok(&["apps:destroy", &app, "--confirm", &app]);
}

fn run_billing(d: &Daemon, extra: &[&str]) -> Value {
    let mut args = vec!["admin", "billing:run", "--json"];
    args.extend_from_slice(extra);
    d.admin().json(&args)
}

fn hours_billed(r: &Value) -> Vec<String> {
    r["hours"]
        .as_array()
        .unwrap_or_else(|| panic!("hours in {r}"))
        .iter()
        .map(|h| h.as_str().unwrap_or_default().to_string())
        .collect()
}

/// (key, replica-minutes, cost) of each `billing:usage` line.
fn usage_lines(d: &Daemon, tok: &str, org: &str, extra: &[&str]) -> Vec<(String, i64, String)> {
    let mut args = vec!["billing:usage", "-o", org, "--json"];
    args.extend_from_slice(extra);
    let u = d.cli(tok).json(&args);
    u["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("lines in {u}"))
        .iter()
        .map(|l| {
            (
                l["key"].as_str().unwrap_or_default().to_string(),
                l["replica_minutes"].as_i64().unwrap_or(-1),
                l["cost"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn wait_billed_until(d: &Daemon, tok: &str, org: &str, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let b = billing(d, tok, org);
        if b["billed_until"] == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never billed until {want}: {b}\n{}",
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn create_plan(d: &Daemon, price: &str) -> String {
    let plan = unique("metered");
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
        price,
    ]);
    plan
}

fn create_app(d: &Daemon, tok: &str, org: &str, plan: &str) -> String {
    let app = unique("meter");
    d.cli(tok).ok(&[
        "apps:create",
        &app,
        "-o",
        org,
        "--plan",
        plan,
        "--no-remote",
    ]);
    d.cli(tok)
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    wait_backends(d, tok, &app, |b| b.len() == 1);
    app
}

/// Billing on a clock the test moves: minutes are metered from the real
/// tasks, each closed hour is billed once (also when the sweep is re-run or
/// the daemon dies in the middle of one), and hours missed while the daemon
/// was down are billed on restart up to the catch-up limit.
#[test]
fn hourly_sweeps_bill_metered_minutes_once_and_catch_up_after_downtime_and_a_crash() {
    ensure_images();
    let mut d = Daemon::start_with_clock("2026-11-02T10:00:05Z");
    let ann = d.user(&(unique("ann") + "@example.com"), false);
    let plan = create_plan(&d, "0.0070");
    let (org_a, org_b) = (unique("acme"), unique("bolt"));
    for o in [&org_a, &org_b] {
        d.cli(&ann).ok(&["orgs:create", o]);
        d.admin().ok(&["admin", "billing:credit", "-o", o, "10.00"]);
    }
    let a = create_app(&d, &ann, &org_a, &plan);
    d.cli(&ann).ok(&["ps:scale", "-a", &a, "web=2"]);
    wait_backends(&d, &ann, &a, |b| b.len() == 2);

    // 10:00: two replicas metered, nothing billed yet.
    assert!(hours_billed(&run_billing(&d, &[])).is_empty());
    let b = billing(&d, &ann, &org_a);
    assert_eq!(b["unbilled_replica_minutes"], 2, "{b}");
    // Down to zero; the 10:30 sample fills 10:01–10:29 with the two replicas
    // last seen: 30 minutes × 2 replicas of 0.0070/h is 0.0070.
    d.cli(&ann).ok(&["ps:scale", "-a", &a, "web=0"]);
    wait_backends(&d, &ann, &a, |b| b.is_empty());
    d.set_clock("2026-11-02T10:30:05Z");
    run_billing(&d, &[]);
    let b = billing(&d, &ann, &org_a);
    assert_eq!(
        (
            b["unbilled_replica_minutes"].as_i64(),
            b["unbilled"].as_str()
        ),
        (Some(60), Some("0.007")),
        "{b}"
    );
    d.set_clock("2026-11-02T11:00:05Z");
    let r = run_billing(&d, &[]);
    assert_eq!(hours_billed(&r), ["2026-11-02T10:00:00Z"], "{r}");
    assert_eq!(
        (r["apps"].as_i64(), r["billed"].as_str()),
        (Some(1), Some("0.007")),
        "{r}"
    );
    assert_eq!(
        usage_lines(&d, &ann, &org_a, &["--by", "hour"]),
        [("2026-11-02T10:00:00Z".to_string(), 60, "0.007".to_string())]
    );
    let t = transactions(&d, &ann, &org_a);
    assert_eq!(
        (
            t[0]["kind"].as_str(),
            t[0]["amount"].as_str(),
            t[0]["balance"].as_str()
        ),
        (Some("usage"), Some("-0.007"), Some("9.993")),
        "{t:?}"
    );
    let note = t[0]["note"].as_str().unwrap_or_default();
    assert!(
        note.contains(&a) && note.contains("60 replica-minutes"),
        "{note}"
    );

    // Re-running the sweep, or with an earlier --until, bills nothing again.
    assert!(hours_billed(&run_billing(&d, &[])).is_empty());
    assert!(hours_billed(&run_billing(&d, &["--until", "2026-11-02T09:00Z"])).is_empty());
    assert_eq!(transactions(&d, &ann, &org_a).len(), 2);
    for (until, want) in [
        ("2026-11-02T12:00Z", "is in the future"),
        ("yesterday", "\"yesterday\" is not a date"),
    ] {
        let err = d.admin().fails(&["admin", "billing:run", "--until", until]);
        assert!(err.contains(want), "{until}: {err}");
    }
    let err = d.cli(&ann).fails(&["admin", "billing:run"]);
    assert!(err.contains("admin"), "{err}");

    // Catch-up: one replica of each app from 11:01, then the daemon is down
    // until 16:20 with a 3-hour limit: 11:02–13:19 are past it.
    d.admin()
        .ok(&["admin", "settings:set", "billing_max_catchup_hours", "3"]);
    d.cli(&ann).ok(&["ps:scale", "-a", &a, "web=1"]);
    wait_backends(&d, &ann, &a, |b| b.len() == 1);
    let b_app = create_app(&d, &ann, &org_b, &plan);
    d.set_clock("2026-11-02T11:01:05Z");
    run_billing(&d, &[]);
    d.stop();
    d.set_clock("2026-11-02T16:20:05Z");
    d.spawn();
    wait_billed_until(&d, &ann, &org_a, "2026-11-02T16:00:00Z");
    let want: Vec<(String, i64, String)> = [
        ("2026-11-02T11:00:00Z", 1, "0.000117"),
        ("2026-11-02T13:00:00Z", 40, "0.004667"),
        ("2026-11-02T14:00:00Z", 60, "0.007"),
        ("2026-11-02T15:00:00Z", 60, "0.007"),
    ]
    .iter()
    .map(|(h, m, c)| (h.to_string(), *m, c.to_string()))
    .collect();
    assert_eq!(
        usage_lines(&d, &ann, &org_a, &["--by", "hour"])[1..],
        want[..]
    );
    assert_eq!(usage_lines(&d, &ann, &org_b, &["--by", "hour"]), want);

    // A crash in the middle of the 16:00 sweep: the first org is billed, the
    // second is not; the restarted daemon bills the second, the first once.
    d.stop();
    d.set_clock("2026-11-02T17:00:05Z");
    d.env = vec![("SKYPANEL_TEST_SWEEP_ABORT_AFTER".into(), "1".into())];
    d.spawn();
    let st = d.wait_exit(60);
    assert!(!st.success(), "the sweep aborted the daemon: {st:?}");
    let db = rusqlite::Connection::open(d.data_dir().join("skypanel.db")).expect("open db");
    let billed: Vec<String> = db
        .prepare(
            "SELECT o.name FROM usage u JOIN orgs o ON o.id = u.org_id \
             WHERE u.hour = 1793635200 ORDER BY o.name",
        )
        .expect("query")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("names");
    drop(db);
    assert_eq!(
        billed,
        vec![org_a.clone()],
        "only the first org before the crash"
    );
    d.env.clear();
    d.spawn();
    wait_billed_until(&d, &ann, &org_b, "2026-11-02T17:00:00Z");
    assert!(hours_billed(&run_billing(&d, &[])).is_empty());
    let window = ["--from", "2026-11-02T16:00Z", "--to", "2026-11-02T17:00Z"];
    assert_eq!(
        usage_lines(&d, &ann, &org_a, &window),
        [(a.clone(), 60, "0.007".to_string())]
    );
    assert_eq!(
        usage_lines(&d, &ann, &org_b, &window),
        [(b_app.clone(), 60, "0.007".to_string())]
    );
    let usage_entries = |org: &str| {
        transactions(&d, &ann, org)
            .iter()
            .filter(|t| t["kind"] == "usage")
            .count()
    };
    // a: 10, 11, 13, 14, 15, 16 — b: 11, 13, 14, 15, 16.
    assert_eq!((usage_entries(&org_a), usage_entries(&org_b)), (6, 5));

    // (16:00–16:19 were filled at the 16:20 restart.) The month's statement
    // adds up: 281 replica-minutes, 0.032784.
    let s = d.cli(&ann).json(&[
        "billing:statement",
        "-o",
        &org_a,
        "--month",
        "2026-11",
        "--json",
    ]);
    assert_eq!(
        (
            s["opening_balance"].as_str(),
            s["credits"].as_str(),
            s["usage"].as_str(),
            s["closing_balance"].as_str()
        ),
        (
            Some("0.00"),
            Some("10.00"),
            Some("0.032784"),
            Some("9.967216")
        ),
        "{s}"
    );
    assert_eq!(s["apps"][0]["replica_minutes"], 281, "{s}");
    let csv = d.cli(&ann).ok(&[
        "billing:statement",
        "-o",
        &org_a,
        "--month",
        "2026-11",
        "--csv",
    ]);
    assert!(
        csv.contains(&format!("usage,{a},,281,-0.032784,USD")),
        "{csv}"
    );
    let csv = d.cli(&ann).ok(&[
        "billing:usage",
        "-o",
        &org_a,
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--by",
        "day",
        "--csv",
    ]);
    assert_eq!(
        csv.trim(),
        "day,plans,hours,replica_minutes,cost,currency\n2026-11-02,".to_string()
            + &plan
            + ",6,281,0.032784,USD"
    );
    // Bad input: clear errors, nothing written.
    for (args, want) in [
        (
            vec!["billing:statement", "-o", &org_a, "--month", "2026-13"],
            "YYYY-MM",
        ),
        (
            vec!["billing:statement", "-o", &org_a, "--month", "2027-01"],
            "has not started",
        ),
        (
            vec!["billing:usage", "-o", &org_a, "--by", "week"],
            "app, hour or day",
        ),
        (
            vec![
                "billing:usage",
                "-o",
                &org_a,
                "--from",
                "2026-11-05",
                "--to",
                "2026-11-01",
            ],
            "is not before",
        ),
        (
            vec!["billing:usage", "-o", &org_a, "--from", "11/05/2026"],
            "not a date",
        ),
    ] {
        let err = d.cli(&ann).fails(&args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(usage_entries(&org_a), 6);
}

/// An org whose wallet runs dry is suspended (apps at zero replicas, the
/// suspended page, deploys and scale-ups refused) and resumed by a credit.
#[test]
fn an_org_out_of_credit_is_suspended_and_a_credit_resumes_it() {
    ensure_images();
    let d = Daemon::start_with_clock("2026-11-03T08:00:05Z");
    let ann = d.user(&(unique("ann") + "@example.com"), false);
    let org = unique("dry");
    d.cli(&ann).ok(&["orgs:create", &org]);
    let hook = receiver(|_, _, _| 200);
    d.cli(&ann).ok(&[
        "orgs:webhooks:add",
        "-o",
        &org,
        &format!("http://{}/hook", hook.addr),
        "--events",
        "billing",
    ]);
    let plan = create_plan(&d, "0.02");
    let app = create_app(&d, &ann, &org, &plan);
    let host = format!("{app}.localhost");
    let free_org = unique("free");
    d.cli(&ann).ok(&["orgs:create", &free_org]);
    let free = create_plan(&d, "0");
    create_app(&d, &ann, &free_org, &free);
    // 0.01 at 0.02 an hour: half an hour of runway, under the 24-hour alert.
    d.admin()
        .ok(&["admin", "billing:credit", "-o", &org, "0.01"]);
    run_billing(&d, &[]);
    d.set_clock("2026-11-03T09:00:05Z");
    let r = run_billing(&d, &[]);
    assert_eq!(r["suspended"], serde_json::json!([org.clone()]), "{r}");
    let b = billing(&d, &ann, &org);
    assert_eq!(
        (b["status"].as_str(), b["balance"].as_str()),
        (Some("suspended"), Some("-0.01")),
        "{b}"
    );

    // Every service of the app at zero replicas, in Docker's own words.
    let label = format!("label=skypanel.app={app}");
    let replicas = || {
        let ids = crate::common::docker(&["service", "ls", "-q", "--filter", &label]);
        ids.split_whitespace()
            .map(|id| {
                crate::common::docker(&[
                    "service",
                    "inspect",
                    id,
                    "--format",
                    "{{.Spec.Mode.Replicated.Replicas}}",
                ])
                .trim()
                .to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(replicas(), ["0"]);
    crate::router::eventually(&d, &host, "/", 402, "suspended");
    for args in [
        vec!["deploy", "-a", &app, "--image", "skypanel-test/web:1"],
        vec!["ps:scale", "-a", &app, "web=2"],
        vec!["ps:restart", "-a", &app],
        vec!["ps:start", "-a", &app],
        vec!["apps:create", "another", "-o", &org, "--no-remote"],
    ] {
        let err = d.cli(&ann).fails(&args);
        assert!(
            err.contains(&format!("organization {org} is suspended"))
                && err.contains("admin billing:credit"),
            "{args:?}: {err}"
        );
    }

    // A push is refused before anything is built, the ref left alone.
    let repo = crate::push::Repo::new(&[("Dockerfile", "FROM skypanel-test/web:1\n")]);
    d.cli(&ann).cwd(repo.path()).ok(&["git:remote", "-a", &app]);
    let (code, out) = repo.push(&d, Some(&ann), &["push", "skypanel", "main"]);
    assert!(
        code != 0 && out.contains(&format!("organization {org} is suspended")),
        "{out}"
    );
    // An org with only free apps is never suspended, whatever its balance.
    assert_eq!(billing(&d, &ann, &free_org)["status"], "active");

    // A credit above the threshold resumes the org and its formation.
    d.admin()
        .ok(&["admin", "billing:credit", "-o", &org, "1.00"]);
    let b = billing(&d, &ann, &org);
    assert_eq!(
        (b["status"].as_str(), b["balance"].as_str()),
        (Some("active"), Some("0.99")),
        "{b}"
    );
    crate::router::eventually(&d, &host, "/", 200, "web v1");
    assert_eq!(replicas(), ["1"]);
    d.cli(&ann)
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:2"]);

    // The billing webhooks, in order: low balance, suspended, resumed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let events = loop {
        let events: Vec<String> = hook
            .got
            .lock()
            .expect("got")
            .iter()
            .filter_map(|r| r.header("x-skypanel-event"))
            .collect();
        if events.len() >= 3 || std::time::Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(
        events,
        [
            "billing.low_balance",
            "billing.suspended",
            "billing.resumed"
        ]
    );
    let events = d.admin().ok(&["admin", "events"]);
    assert!(
        events.contains(&format!("organization {org} is suspended")),
        "{events}"
    );
}
