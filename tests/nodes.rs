//! The node manager against the real Swarm: the local node is registered with
//! real capacity, and draining and activating it show up in `admin events`.

use serde_json::Value;

use crate::common::Daemon;

#[test]
fn nodes_show_capacity_and_availability_changes_raise_events() {
    // This test drains the one node: no other test may use the Swarm meanwhile.
    let d = Daemon::start_exclusive();
    let nodes = d.admin().json(&["admin", "nodes", "--json"]);
    let n = &nodes[0];
    assert_eq!(
        (
            n["role"].as_str(),
            n["status"].as_str(),
            n["availability"].as_str()
        ),
        (Some("manager"), Some("ready"), Some("active"))
    );
    assert!(
        n["cpus"]
            .as_str()
            .and_then(|c| c.parse::<f64>().ok())
            .is_some_and(|c| c >= 1.0),
        "{n}"
    );
    assert!(n["memory_mb"].as_i64().is_some_and(|m| m > 256), "{n}");
    let host = n["hostname"].as_str().expect("hostname").to_string();
    let table = d.admin().ok(&["admin", "nodes"]);
    assert!(table.contains(&host) && table.contains("ready"), "{table}");

    let events = |d: &Daemon| -> Vec<(String, String)> {
        let list: Value = d.admin().json(&["admin", "events", "--json"]);
        list.as_array()
            .expect("events")
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap_or("").to_string(),
                    e["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    assert!(
        events(&d).iter().any(|(k, _)| k == "node_registered"),
        "the local node is registered at start: {:?}",
        events(&d)
    );

    let drained = d.admin().json(&["admin", "nodes:drain", &host, "--json"]);
    let activated = d
        .admin()
        .json(&["admin", "nodes:activate", &host, "--json"]);
    assert_eq!(drained["availability"], "drain");
    assert_eq!(activated["availability"], "active");
    let ev = events(&d);
    assert!(
        ev.iter()
            .any(|(k, m)| k == "node_availability" && m.contains("now drain")),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|(k, m)| k == "node_availability" && m.contains("now active")),
        "{ev:?}"
    );

    let join = d.admin().ok(&["admin", "nodes:join-command"]);
    assert!(
        join.starts_with("docker swarm join --token SWMTKN-") && join.trim().ends_with(":2377"),
        "{join}"
    );
    let err = d.admin().fails(&["admin", "nodes:remove", &host]);
    assert!(err.contains("still ready"), "{err}");
    let err = d.admin().fails(&["admin", "nodes:info", "ghost-node"]);
    assert!(err.contains("no node \"ghost-node\""), "{err}");
}
