//! The node manager against the real Swarm: the local node is registered with
//! real capacity, and draining and activating it show up in `admin events`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::common::Daemon;

/// A webhook receiver: records each POSTed JSON body and answers 200.
fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn);
            let mut len = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice(&body) {
                    sink.lock().expect("lock").push(v);
                }
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

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

    let (hook, received) = receiver();
    d.admin()
        .ok(&["admin", "settings:set", "alert_webhook_url", &hook]);
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

    // The alert webhook got both changes as JSON.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = received.lock().expect("lock").clone();
        let msgs: Vec<String> = got
            .iter()
            .map(|v| format!("{} {} {}", v["event"], v["node"], v["message"]))
            .collect();
        if msgs.iter().any(|m| m.contains("now drain"))
            && msgs.iter().any(|m| m.contains("now active"))
        {
            assert!(
                got.iter()
                    .all(|v| v["event"] == "node_availability" && v["node"] == host.as_str()),
                "{got:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the webhook did not receive both alerts: {msgs:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

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
