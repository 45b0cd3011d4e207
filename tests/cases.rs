//! Quick CLI cases, one daemon for all, each a few lines with `Case`: what
//! a user sees for everyday mistakes and for another org's things, and the
//! query strings the CLI builds from the `api` query types.

use serde_json::json;

use crate::common::case::Case;
use crate::common::{Daemon, unique};

#[test]
fn everyday_cli_cases() {
    let d = Daemon::start();
    let ann = d.user(&(unique("ann") + "@example.com"), false);
    let eve = d.user(&(unique("eve") + "@example.com"), false);
    let org = unique("acme");
    let app = unique("shop");
    d.cli(&ann).ok(&["orgs:create", &org]);
    d.cli(&ann).ok(&["apps:create", &app, "-o", &org]);
    d.cli(&eve).ok(&["orgs:create", &unique("evil")]);

    // No login at all: say how to log in.
    Case::new(&d, "")
        .args(&["apps"])
        .code(1)
        .stderr_has("no API token saved: run `skypanel login --server")
        .run();
    Case::new(&d, &d.admin_token)
        .args(&["whoami", "--json"])
        .json("/email", json!("admin@localhost"))
        .json("/is_admin", json!(true))
        .run();
    // `apps -o ORG` and `apps --json` go through `api::AppsQuery`.
    Case::new(&d, &ann)
        .args(&["apps", "-o", &org, "--json"])
        .json("/0/name", json!(app))
        .json("/0/org", json!(org))
        .run();

    // Another org's app answers exactly like one that does not exist.
    let stranger = Case::new(&d, &eve)
        .args(&["apps:info", "-a", &app])
        .code(1)
        .stderr_has("not found")
        .run();
    let ghost = unique("ghost");
    let none = Case::new(&d, &eve)
        .args(&["apps:info", "-a", &ghost])
        .code(1)
        .run();
    assert_eq!(
        stranger.stderr.replace(&app, "NAME"),
        none.stderr.replace(&ghost, "NAME")
    );
    Case::new(&d, &eve)
        .args(&["apps", "-o", &org])
        .code(1)
        .stderr_has("not found")
        .run();

    // Bad input names the input and the fix, and changes nothing.
    Case::new(&d, &ann)
        .args(&["deploy", "-a", &app, "--image", "a b"])
        .code(1)
        .stderr_has("the image name is empty or has spaces: give it like shop:1.4")
        .run();
    Case::new(&d, &ann)
        .args(&["logs", "-a", &app, "--source", "nope"])
        .code(1)
        .stderr_has("--source")
        .stderr_has("give app or skypanel")
        .run();
    Case::new(&d, &ann)
        .args(&["checks:history", "-a", &app, "-n", "0"])
        .code(1)
        .stderr_has("is not a number of probes from 1 to 1000")
        .run();
    Case::new(&d, &ann)
        .args(&["billing:usage", "-o", &org, "--by", "week"])
        .code(1)
        .stderr_has("--by \"week\" is not a grouping: use app, hour or day")
        .run();
    Case::new(&d, &ann)
        .args(&["releases", "-a", &app, "--json"])
        .stdout_has("[]")
        .run();

    // Admin-only commands say so to members; admins get the answer.
    Case::new(&d, &ann)
        .args(&["admin", "events", "-n", "5"])
        .code(1)
        .stderr_has("admin")
        .run();
    let events = Case::new(&d, &d.admin_token)
        .args(&["admin", "events", "-n", "1", "--json"])
        .run();
    let events: serde_json::Value = serde_json::from_str(&events.stdout).expect("json");
    assert_eq!(
        events.as_array().map(Vec::len),
        Some(1),
        "-n 1 is sent as limit=1"
    );
    Case::new(&d, &d.admin_token)
        .args(&["admin", "nodes:join-command", "--manager"])
        .stdout_has("docker swarm join --token SWMTKN-")
        .run();

    // A config change without a restart makes no release (`?restart=false`).
    Case::new(&d, &ann)
        .args(&["config:set", "-a", &app, "GREETING=hi", "--no-restart"])
        .run();
    Case::new(&d, &ann)
        .args(&["config", "-a", &app, "--json"])
        .json("/GREETING", json!("hi"))
        .run();
}
