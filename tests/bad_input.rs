//! Bad input: every case exits non-zero with a message that names the input
//! (and the fix), never panics, and leaves everything as it was.

use serde_json::{Value, json};

use crate::common::{Daemon, unique};

/// Everything a bad command could have changed, as the admin sees it.
fn snapshot(d: &Daemon, app: &str, org: &str) -> Value {
    let h = d.http(Some(&d.admin_token));
    let tokens: Vec<Value> = h
        .get("/api/v1/tokens")
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| json!([t["id"], t["name"], t["revoked_at"]]))
        .collect();
    json!({
        "apps": h.get("/api/v1/apps?all=true"),
        "config": h.get(&format!("/api/v1/apps/{app}/config")),
        "plans": h.get("/api/v1/plans"),
        "settings": h.get("/api/v1/admin/settings"),
        "users": h.get("/api/v1/admin/users"),
        "members": h.get(&format!("/api/v1/orgs/{org}/members")),
        "build_settings": h.get(&format!("/api/v1/apps/{app}/build-settings")),
        "builds": h.get(&format!("/api/v1/apps/{app}/builds")),
        "domains": h.get(&format!("/api/v1/apps/{app}/domains")),
        "maintenance": h.get(&format!("/api/v1/apps/{app}/maintenance")),
        "certs": h.get(&format!("/api/v1/apps/{app}/certs")),
        "orgs": h.get("/api/v1/orgs"),
        "tokens": tokens,
    })
}

enum As {
    Admin,
    Owner,
    Stranger,
    Token(&'static str),
    NoLogin,
}

#[test]
fn bad_input_is_refused_clearly_and_changes_nothing() {
    let d = Daemon::start();
    let owner_email = unique("olive") + "@example.com";
    let owner = d.user(&owner_email, false);
    let stranger = d.user(&(unique("oscar") + "@example.com"), false);
    let org = unique("acme");
    let app = unique("shop");
    d.cli(&owner).ok(&["orgs:create", &org]);
    d.cli(&owner).ok(&["apps:create", &app, "-o", &org]);
    d.cli(&owner).ok(&["config:set", "-a", &app, "KEEP=me"]);
    let revoked = {
        let t: Value = d
            .cli(&owner)
            .json(&["tokens:create", "--name", "old", "--json"]);
        let id = t["token"]["id"].as_i64().expect("id").to_string();
        d.cli(&owner).ok(&["tokens:revoke", &id]);
        t["secret"].as_str().expect("secret").to_string()
    };
    let big = format!("BIG={}", "x".repeat(32 * 1024 + 1));
    let long_name = "a".repeat(31);

    let cases: Vec<(As, Vec<&str>, &str)> = vec![
        (
            As::Owner,
            vec!["apps:create", "Shop_1", "-o", &org],
            "app name \"Shop_1\" is invalid: use lowercase letters",
        ),
        (
            As::Owner,
            vec!["apps:create", "www", "-o", &org],
            "is reserved",
        ),
        (
            As::Owner,
            vec!["apps:create", "1abc", "-o", &org],
            "app name \"1abc\" is invalid",
        ),
        (
            As::Owner,
            vec!["apps:create", &long_name, "-o", &org],
            "(max 30)",
        ),
        (
            As::Owner,
            vec!["apps:create", &app, "-o", &org],
            "is already taken",
        ),
        (
            As::Owner,
            vec!["apps:create", "newapp", "-o", &org, "--plan", "gold"],
            "no plan named \"gold\"",
        ),
        (
            As::Owner,
            vec!["apps:create", "newapp", "-o", "nope"],
            "organization \"nope\" not found",
        ),
        (
            As::Stranger,
            vec!["apps:create", "sneaky", "-o", &org],
            "not found",
        ),
        (
            As::Owner,
            vec!["apps:info", "-a", "ghost"],
            "app \"ghost\" not found",
        ),
        (As::Stranger, vec!["apps:info", "-a", &app], "not found"),
        (
            As::Owner,
            vec!["apps:destroy", &app, "--confirm", "shp"],
            "does not match",
        ),
        (As::Owner, vec!["apps:destroy", &app], "pass --confirm"),
        (
            As::Owner,
            vec!["apps:destroy", "ghost", "--confirm", "ghost"],
            "app \"ghost\" not found",
        ),
        (
            As::Owner,
            vec!["config:set", "-a", &app, "1BAD=x"],
            "config var name \"1BAD\" is invalid",
        ),
        (
            As::Owner,
            vec!["config:set", "-a", &app, "NOEQUALS"],
            "is not KEY=VALUE",
        ),
        (
            As::Owner,
            vec!["config:set", "-a", &app, "A-B=1"],
            "config var name \"A-B\" is invalid",
        ),
        (
            As::Owner,
            vec!["config:set", "-a", &app, "OK=1", &big],
            "the limit is 32768 bytes",
        ),
        (
            As::Owner,
            vec!["config:set", "-a", "ghost", "A=1"],
            "app \"ghost\" not found",
        ),
        (
            As::Owner,
            vec!["config:unset", "-a", &app, "KEEP", "NOTSET"],
            "config var NOTSET is not set on",
        ),
        (
            As::Owner,
            vec!["config:get", "-a", &app, "NOTSET"],
            "config var NOTSET is not set on",
        ),
        (As::Owner, vec!["config"], "no app given: pass -a APP"),
        (
            As::Owner,
            vec!["orgs:create", "Bad_Org"],
            "organization name \"Bad_Org\" is invalid",
        ),
        (As::Owner, vec!["orgs:create", &org], "already exists"),
        (
            As::Owner,
            vec!["orgs:members:add", "-o", &org, "nobody@example.com"],
            "no user with email nobody@example.com",
        ),
        (
            As::Owner,
            vec![
                "orgs:members:add",
                "-o",
                &org,
                "admin@localhost",
                "--role",
                "boss",
            ],
            "role \"boss\" is invalid",
        ),
        (
            As::Owner,
            vec!["orgs:members:remove", "-o", &org, &owner_email],
            "must keep at least one owner",
        ),
        (
            As::Owner,
            vec!["orgs:members", "-o", "ghost"],
            "organization \"ghost\" not found",
        ),
        (
            As::Owner,
            vec!["tokens:revoke", "99999"],
            "you have no token with id 99999",
        ),
        (
            As::Owner,
            vec!["tokens:revoke", "abc"],
            "token id \"abc\" is not a number",
        ),
        (
            As::Admin,
            vec![
                "admin",
                "plans:create",
                "Gold!",
                "--cpu",
                "1",
                "--memory",
                "1G",
                "--max-replicas",
                "1",
                "--price-hourly",
                "1",
            ],
            "plan name \"Gold!\" is invalid",
        ),
        (
            As::Admin,
            vec![
                "admin",
                "plans:create",
                "gold",
                "--cpu",
                "0",
                "--memory",
                "512M",
                "--max-replicas",
                "1",
                "--price-hourly",
                "0.01",
            ],
            "cpu \"0\" is invalid",
        ),
        (
            As::Admin,
            vec![
                "admin",
                "plans:create",
                "gold",
                "--cpu",
                "1",
                "--memory",
                "8M",
                "--max-replicas",
                "1",
                "--price-hourly",
                "0.01",
            ],
            "memory \"8M\" is invalid",
        ),
        (
            As::Admin,
            vec![
                "admin",
                "plans:create",
                "gold",
                "--cpu",
                "1",
                "--memory",
                "1G",
                "--max-replicas",
                "0",
                "--price-hourly",
                "0.01",
            ],
            "max replicas 0 is invalid",
        ),
        (
            As::Admin,
            vec![
                "admin",
                "plans:create",
                "gold",
                "--cpu",
                "1",
                "--memory",
                "1G",
                "--max-replicas",
                "two",
                "--price-hourly",
                "0.01",
            ],
            "max replicas \"two\" is not a whole number",
        ),
        (
            As::Admin,
            vec![
                "admin",
                "plans:create",
                "gold",
                "--cpu",
                "1",
                "--memory",
                "1G",
                "--max-replicas",
                "1",
                "--price-hourly=-1",
            ],
            "is negative",
        ),
        (
            As::Admin,
            vec![
                "admin",
                "plans:create",
                "gold",
                "--cpu",
                "1",
                "--memory",
                "1G",
                "--max-replicas",
                "1",
                "--price-hourly",
                "1.5e3",
            ],
            "hourly price \"1.5e3\" is not an amount",
        ),
        (
            As::Admin,
            vec![
                "admin",
                "plans:create",
                "gold",
                "--cpu",
                "1",
                "--memory",
                "1G",
                "--max-replicas",
                "1",
                "--price-hourly",
                "1",
                "--feature",
                "Bad Feature",
            ],
            "feature \"Bad Feature\" is invalid",
        ),
        (
            As::Admin,
            vec![
                "admin",
                "plans:create",
                "hobby",
                "--cpu",
                "1",
                "--memory",
                "1G",
                "--max-replicas",
                "1",
                "--price-hourly",
                "1",
            ],
            "plan hobby already exists",
        ),
        (
            As::Admin,
            vec!["admin", "plans:create", "gold", "--cpu", "1"],
            "a new plan needs --memory, --max-replicas, --price-hourly",
        ),
        (
            As::Admin,
            vec!["admin", "plans:update", "ghost", "--cpu", "1"],
            "no plan named \"ghost\"",
        ),
        (
            As::Admin,
            vec!["admin", "plans:update", "hobby"],
            "nothing to change",
        ),
        (
            As::Admin,
            vec!["admin", "plans:remove", "hobby"],
            "used by 1 app",
        ),
        (
            As::Admin,
            vec!["admin", "settings:set", "nope", "1"],
            "unknown setting \"nope\"",
        ),
        (
            As::Admin,
            vec!["admin", "settings:set", "loki_retention_days", "0"],
            "must be a number of days from 1 to 3650, or a duration like 12h or 30m; got \"0\"",
        ),
        (
            As::Admin,
            vec!["admin", "settings:set", "storage_type", "ftp"],
            "must be one of: local, s3",
        ),
        (
            As::Admin,
            vec!["admin", "settings:set", "default_plan", "gold"],
            "no plan named \"gold\"",
        ),
        (
            As::Admin,
            vec!["admin", "settings:set", "default_domain", "Bad Domain"],
            "must be a lowercase domain name",
        ),
        (
            As::Admin,
            vec!["admin", "settings:set", "buildpack_cache_enabled", "maybe"],
            "must be true or false",
        ),
        (
            As::Admin,
            vec!["admin", "settings:set", "s3_endpoint", "localhost:9000"],
            "must be an http:// or https:// URL",
        ),
        (
            As::Admin,
            vec!["admin", "settings:set", "max_apps_per_org", ""],
            "cannot be empty",
        ),
        (
            As::Admin,
            vec!["admin", "settings:unset", "nope"],
            "unknown setting \"nope\"",
        ),
        (
            As::Admin,
            vec!["admin", "users:create", "not-an-email"],
            "email \"not-an-email\" is invalid",
        ),
        (
            As::Admin,
            vec!["admin", "users:create", &owner_email],
            "already exists",
        ),
        (
            As::Owner,
            vec!["admin", "settings"],
            "this needs a platform admin",
        ),
        (
            As::Owner,
            vec!["admin", "users:create", "x@example.com"],
            "this needs a platform admin",
        ),
        (
            As::Token("skp_0000"),
            vec!["apps"],
            "the API token is invalid or revoked",
        ),
        (
            As::Token("REVOKED"),
            vec!["apps"],
            "the API token is invalid or revoked",
        ),
        (
            As::NoLogin,
            vec!["whoami"],
            "not logged in: run `skypanel login",
        ),
        (
            As::NoLogin,
            vec!["login", "--server", "ftp://example.com", "--token", "t"],
            "server URL \"ftp://example.com\" is invalid",
        ),
        (
            As::NoLogin,
            vec!["login", "--server", "http://127.0.0.1:1", "--token", "t"],
            "cannot reach the SkyPanel daemon at http://127.0.0.1:1",
        ),
        (
            As::Owner,
            vec!["builder:set", "-a", &app, "bogus"],
            "unknown builder \"bogus\": use one of auto, dockerfile, herokuish",
        ),
        (
            As::Stranger,
            vec!["builder:set", "-a", &app, "dockerfile"],
            "not found",
        ),
        (
            As::Owner,
            vec!["git:set", "-a", &app, "deploy-branch", "../up"],
            "branch name \"../up\" is invalid",
        ),
        (
            As::Owner,
            vec!["git:set", "-a", &app, "colour", "blue"],
            "unknown git property \"colour\"",
        ),
        (
            As::Owner,
            vec!["builds:output", "-a", &app, "x1"],
            "\"x1\" names no build: give a build number",
        ),
        (
            As::Owner,
            vec!["builds:output", "-a", &app, "9"],
            "no build #9",
        ),
        (
            As::Owner,
            vec!["builds:cancel", "-a", &app],
            "has no build running",
        ),
        (
            As::Owner,
            vec!["git:remote", "-a", &app],
            "not inside a git repository",
        ),
        (
            As::Owner,
            vec!["domains:add", "-a", &app, "bad-.example.com"],
            "is not a domain name",
        ),
        (
            As::Owner,
            vec!["domains:add", "-a", &app, "localhost"],
            "is not a domain name",
        ),
        (
            As::Owner,
            vec!["domains:remove", "-a", &app, "never.example.com"],
            "has no domain \"never.example.com\"",
        ),
        (
            As::Stranger,
            vec!["maintenance:on", "-a", &app],
            "not found",
        ),
        (
            As::Owner,
            vec![
                "certs:add",
                "-a",
                &app,
                "/nonexistent/cert.pem",
                "/nonexistent/key.pem",
            ],
            "cannot read the certificate file /nonexistent/cert.pem",
        ),
        (
            As::Owner,
            vec!["certs:add", "-a", &app, "/etc/hostname", "/etc/hostname"],
            "-----BEGIN CERTIFICATE-----",
        ),
        (
            As::Owner,
            vec!["certs:auto", "-a", &app, "elsewhere.example.com"],
            "does not answer at \"elsewhere.example.com\"",
        ),
        (
            As::Owner,
            vec!["certs:remove", "-a", &app, "never.example.com"],
            "has no certificate for \"never.example.com\"",
        ),
        (
            As::Owner,
            vec!["certs:redirect", "-a", &app, "maybe"],
            "invalid value 'maybe'",
        ),
        (As::Stranger, vec!["certs", "-a", &app], "not found"),
        (
            As::Admin,
            vec!["admin", "settings:set", "acme_renew_days", "0"],
            "setting acme_renew_days must be a whole number from 1 to 36500",
        ),
        (
            As::Admin,
            vec!["admin", "settings:set", "panel_domain", "Not A Domain"],
            "setting panel_domain must be a lowercase domain name",
        ),
        (
            As::Admin,
            vec!["admin", "settings:set", "build_concurrency", "0"],
            "setting build_concurrency must be a whole number from 1 to 64",
        ),
    ];
    assert!(cases.len() >= 30);

    let before = snapshot(&d, &app, &org);
    let mut failures = Vec::new();
    for (who, args, want) in &cases {
        let cli = match who {
            As::Admin => d.admin(),
            As::Owner => d.cli(&owner),
            As::Stranger => d.cli(&stranger),
            As::Token("REVOKED") => d.cli(&revoked),
            As::Token(t) => d.cli(t),
            As::NoLogin => d
                .cli("")
                .env_remove("SKYPANEL_TOKEN")
                .env_remove("SKYPANEL_SERVER"),
        };
        let r = cli.run(args);
        if r.code == 0 || !r.stderr.contains(want) || r.stderr.contains("panicked") {
            failures.push(format!(
                "skypanel {args:?}\n  exit {}\n  want: {want}\n  got:  {}",
                r.code,
                r.stderr.trim()
            ));
        }
        if !r.stderr.starts_with("error: ") {
            failures.push(format!(
                "skypanel {args:?}: stderr does not start with `error: `: {}",
                r.stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    let after = snapshot(&d, &app, &org);
    assert_eq!(before, after, "a refused command changed something");
    assert!(
        !d.log().contains("panicked"),
        "the daemon panicked:\n{}",
        d.log()
    );
}

#[test]
fn malformed_requests_get_json_errors() {
    let d = Daemon::start();
    let h = d.http(Some(&d.admin_token));
    let (st, v) = h.send("POST", "/api/v1/apps", Some(json!({"nom": "x"})));
    assert_eq!(st, 422, "{v}");
    assert!(
        v["error"]
            .as_str()
            .expect("msg")
            .contains("missing field `name`"),
        "{v}"
    );
    let (st, v) = h.send(
        "POST",
        "/api/v1/admin/plans",
        Some(json!({"name": "p", "max_replicas": "lots"})),
    );
    assert_eq!(st, 422);
    assert!(
        !v["error"].as_str().expect("msg").contains("lots"),
        "values are not echoed: {v}"
    );
    let (st, v) = h.send("GET", "/api/v1/nowhere", None);
    assert_eq!((st, v["code"].as_str()), (404, Some("not_found")));
    // Raw bytes that are not JSON at all.
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/orgs", d.url))
        .bearer_auth(&d.admin_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .expect("send");
    assert_eq!(res.status().as_u16(), 422);
}
