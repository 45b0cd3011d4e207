//! The commands of the foundation, as a user runs them: login saved in a 0600
//! file, orgs and members, apps (with the git remote), config vars, plans,
//! settings, tokens — tables for people and `--json` for scripts.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;

use crate::common::{Daemon, git, unique};

#[test]
fn login_then_everyday_commands() {
    let d = Daemon::start();
    let cfg = d.dir.path().join("cli.toml");
    // Log in through the config file, not the environment.
    let cli = || {
        d.cli("")
            .env_remove("SKYPANEL_TOKEN")
            .env_remove("SKYPANEL_SERVER")
            .env("SKYPANEL_CONFIG", &cfg)
    };
    let out = cli().ok(&["login", "--server", &d.url, "--token", &d.admin_token]);
    assert!(
        out.contains("Logged in to") && out.contains("admin@localhost"),
        "{out}"
    );
    let mode = std::fs::metadata(&cfg)
        .expect("config written")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the login file holds a token");
    let me = cli().json(&["whoami", "--json"]);
    assert_eq!(me["email"], "admin@localhost");
    assert_eq!(me["is_admin"], true);
    assert_eq!(
        me["orgs"][0]["org"], "main",
        "admin init made the admin's org"
    );

    // Users, orgs, members.
    let ann_email = unique("ann") + "@example.com";
    let ann = cli().json(&["admin", "users:create", &ann_email, "--json"]);
    let ann_token = ann["token"].as_str().expect("token shown once").to_string();
    let users = cli().json(&["admin", "users", "--json"]);
    assert!(
        users
            .as_array()
            .expect("list")
            .iter()
            .any(|u| u["email"] == ann_email.as_str())
    );
    let org = unique("acme");
    let o = d.cli(&ann_token).json(&["orgs:create", &org, "--json"]);
    assert_eq!(
        (o["name"].as_str(), o["role"].as_str()),
        (Some(org.as_str()), Some("owner"))
    );
    let bob_email = unique("bob") + "@example.com";
    let bob = cli().json(&["admin", "users:create", &bob_email, "--json"])["token"]
        .as_str()
        .expect("t")
        .to_string();
    d.cli(&ann_token).ok(&[
        "orgs:members:add",
        "-o",
        &org,
        &bob_email,
        "--role",
        "member",
    ]);
    let members = d.cli(&bob).json(&["orgs:members", "-o", &org, "--json"]);
    let roles: Vec<(String, String)> = members
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap_or("").into(),
                m["role"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert!(
        roles.contains(&(ann_email.clone(), "owner".into()))
            && roles.contains(&(bob_email.clone(), "member".into()))
    );
    let table = d.cli(&bob).ok(&["orgs"]);
    assert!(table.contains(&org) && table.contains("member"), "{table}");
    // Promote bob, then ann can leave.
    d.cli(&ann_token).ok(&[
        "orgs:members:add",
        "-o",
        &org,
        &bob_email,
        "--role",
        "owner",
    ]);
    d.cli(&bob)
        .ok(&["orgs:members:remove", "-o", &org, &ann_email]);
    let left = d.cli(&ann_token).fails(&["orgs:members", "-o", &org]);
    assert!(
        left.contains("not found"),
        "ann is no longer a member: {left}"
    );

    // Apps: created in the org's git repo, -a inferred from the remote.
    let repo = d.dir.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q"]);
    let app = unique("shop");
    let created = d
        .cli(&bob)
        .cwd(&repo)
        .ok(&["apps:create", &app, "-o", &org]);
    assert!(created.contains("Git remote skypanel added"), "{created}");
    let url = git(&repo, &["remote", "get-url", "skypanel"]);
    assert_eq!(url.trim(), format!("{}/git/{app}.git", d.url));
    let info = d.cli(&bob).cwd(&repo).json(&["apps:info", "--json"]);
    assert_eq!(
        (
            info["name"].as_str(),
            info["org"].as_str(),
            info["plan"].as_str()
        ),
        (Some(app.as_str()), Some(org.as_str()), Some("hobby"))
    );
    assert_eq!(info["web_url"], format!("http://{app}.localhost"));
    let apps = d.cli(&bob).json(&["apps", "--json"]);
    assert_eq!(apps.as_array().expect("list").len(), 1);
    let apps_table = d.cli(&bob).ok(&["apps"]);
    assert!(
        apps_table.contains(&app) && apps_table.contains("hobby"),
        "{apps_table}"
    );
    let standard = d.cli(&bob).json(&[
        "apps:create",
        &unique("big"),
        "-o",
        &org,
        "--plan",
        "standard",
        "--json",
    ]);
    assert_eq!(standard["plan"], "standard");

    // Config vars, inferred app, values with quotes and newlines.
    let tricky = "it's a \"test\"\nwith $HOME and `cmd`";
    let tricky_arg = format!("TRICKY={tricky}");
    d.cli(&bob).cwd(&repo).ok(&[
        "config:set",
        "DATABASE_URL=postgres://db/x",
        "EMPTY=",
        &tricky_arg,
    ]);
    let cfg_json = d.cli(&bob).cwd(&repo).json(&["config", "--json"]);
    assert_eq!(cfg_json["DATABASE_URL"], "postgres://db/x");
    assert_eq!(cfg_json["EMPTY"], "");
    assert_eq!(cfg_json["TRICKY"], tricky);
    assert_eq!(
        d.cli(&bob).ok(&["config:get", "-a", &app, "DATABASE_URL"]),
        "postgres://db/x\n"
    );
    let shell = d.cli(&bob).ok(&["config", "-a", &app, "--shell"]);
    let evaled = Command::new("sh")
        .args(["-c", "eval \"$SKY\"; printf '%s' \"$TRICKY\""])
        .env("SKY", &shell)
        .output()
        .expect("sh");
    assert_eq!(
        String::from_utf8_lossy(&evaled.stdout),
        tricky,
        "config --shell must survive eval"
    );
    let human = d.cli(&bob).ok(&["config", "-a", &app]);
    assert!(
        human.contains(&format!("=== {app} Config Vars")) && human.contains("DATABASE_URL:"),
        "{human}"
    );
    d.cli(&bob)
        .ok(&["config:unset", "-a", &app, "EMPTY", "TRICKY"]);
    let cfg_json = d.cli(&bob).json(&["config", "-a", &app, "--json"]);
    assert_eq!(
        cfg_json,
        serde_json::json!({"DATABASE_URL": "postgres://db/x"})
    );

    // Plans: admin creates, updates, removes; everyone lists.
    let plans = d.cli(&bob).json(&["plans", "--json"]);
    let names: Vec<&str> = plans
        .as_array()
        .expect("plans")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["hobby", "standard", "performance"]);
    assert_eq!(plans[0]["default"], true);
    let p = cli().json(&[
        "admin",
        "plans:create",
        "micro",
        "--cpu",
        "0.5",
        "--memory",
        "512M",
        "--max-replicas",
        "3",
        "--price-hourly",
        "0.0070",
        "--feature",
        "ssl",
        "--json",
    ]);
    assert_eq!(
        (
            p["cpu"].as_str(),
            p["memory"].as_str(),
            p["price_hourly"].as_str(),
            p["price_monthly"].as_str()
        ),
        (Some("0.5"), Some("512M"), Some("0.007"), Some("5.11"))
    );
    let p = cli().json(&[
        "admin",
        "plans:update",
        "micro",
        "--max-replicas",
        "4",
        "--price-hourly",
        "0.01",
        "--json",
    ]);
    assert_eq!(
        (
            p["max_replicas"].as_i64(),
            p["cpu"].as_str(),
            p["price_hourly"].as_str()
        ),
        (Some(4), Some("0.5"), Some("0.01"))
    );
    cli().ok(&["admin", "settings:set", "default_plan", "micro"]);
    let on_default = d
        .cli(&bob)
        .json(&["apps:create", &unique("dflt"), "-o", &org, "--json"]);
    assert_eq!(on_default["plan"], "micro");
    let refused = cli().fails(&["admin", "plans:remove", "micro"]);
    assert!(refused.contains("used by 1 app"), "{refused}");
    d.cli(&bob).ok(&[
        "apps:destroy",
        on_default["name"].as_str().expect("name"),
        "--confirm",
        on_default["name"].as_str().expect("name"),
    ]);
    let refused = cli().fails(&["admin", "plans:remove", "micro"]);
    assert!(refused.contains("default plan"), "{refused}");
    cli().ok(&["admin", "settings:unset", "default_plan"]);
    cli().ok(&["admin", "plans:remove", "micro"]);
    assert!(!cli().ok(&["plans"]).contains("micro"));

    // Settings.
    let s = cli().json(&[
        "admin",
        "settings:set",
        "loki_retention_days",
        "14",
        "--json",
    ]);
    assert_eq!(s["value"], "14");
    assert_eq!(
        cli().json(&["admin", "settings:get", "loki_retention_days", "--json"])["value"],
        "14"
    );
    assert_eq!(
        cli().json(&["admin", "settings:unset", "loki_retention_days", "--json"])["value"],
        "7"
    );
    let all = cli().json(&["admin", "settings", "--json"]);
    assert!(all.as_array().expect("settings").len() >= 20);
    assert!(cli().ok(&["admin", "settings"]).contains("default_domain"));

    // max_apps_per_org is enforced at apps:create.
    cli().ok(&["admin", "settings:set", "max_apps_per_org", "2"]);
    let over = d
        .cli(&bob)
        .fails(&["apps:create", &unique("third"), "-o", &org]);
    assert!(over.contains("max_apps_per_org = 2"), "{over}");

    // Tokens: create, use, revoke.
    let t = d
        .cli(&bob)
        .json(&["tokens:create", "--name", "ci", "--json"]);
    let secret = t["secret"].as_str().expect("secret").to_string();
    assert_eq!(
        d.cli(&secret).json(&["whoami", "--json"])["email"],
        bob_email.as_str()
    );
    let listed = d.cli(&bob).json(&["tokens", "--json"]);
    assert!(
        listed
            .as_array()
            .expect("tokens")
            .iter()
            .all(|t| t.get("secret").is_none() && t.to_string().find("skp_").is_some())
    );
    assert!(
        !listed.to_string().contains(&secret),
        "listings never show a whole token"
    );
    d.cli(&bob)
        .ok(&["tokens:revoke", &t["token"]["id"].to_string()]);
    assert!(
        d.cli(&secret)
            .fails(&["whoami"])
            .contains("invalid or revoked")
    );

    // Destroy takes the app's config with it.
    d.cli(&bob)
        .ok(&["apps:destroy", "-a", &app, "--confirm", &app]);
    assert!(
        d.cli(&bob)
            .fails(&["config", "-a", &app])
            .contains("not found")
    );
    // Logout forgets the token.
    cli().ok(&["logout"]);
    assert!(cli().fails(&["whoami"]).contains("no API token saved"));
}

#[test]
fn apps_create_leaves_a_foreign_remote_alone() {
    let d = Daemon::start();
    let repo = d.dir.path().join("r");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q"]);
    git(
        &repo,
        &[
            "remote",
            "add",
            "skypanel",
            "https://elsewhere.example.com/git/other.git",
        ],
    );
    let app = unique("web");
    let r = d.admin().cwd(&repo).run(&["apps:create", &app]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("already points at https://elsewhere.example.com/git/other.git"),
        "{}",
        r.stderr
    );
    assert_eq!(
        git(&repo, &["remote", "get-url", "skypanel"]).trim(),
        "https://elsewhere.example.com/git/other.git"
    );
    // With another remote name it is added.
    d.admin()
        .cwd(&repo)
        .ok(&["apps:create", &unique("web"), "--remote", "staging"]);
    let staging = git(&repo, &["remote", "get-url", "staging"]);
    assert!(staging.starts_with(&d.url), "{staging}");
    let apps: Value = d.admin().json(&["apps", "--json"]);
    assert_eq!(apps.as_array().expect("apps").len(), 2);
}

#[test]
fn committed_completions_match_the_cli() {
    for (shell, file) in [
        ("bash", "skypanel.bash"),
        ("zsh", "_skypanel"),
        ("fish", "skypanel.fish"),
    ] {
        let out = Command::new(crate::common::BIN)
            .args(["completions", shell])
            .output()
            .expect("run");
        let committed =
            std::fs::read_to_string(format!("{}/completions/{file}", env!("CARGO_MANIFEST_DIR")))
                .unwrap_or_else(|_| panic!("completions/{file} is missing"));
        assert!(
            String::from_utf8_lossy(&out.stdout) == committed,
            "completions/{file} is stale: run `skypanel completions {shell} > completions/{file}`"
        );
    }
}
