//! No secret in plaintext: not in the database files, not in the daemon's log,
//! not in error messages; secret settings are shown masked.

use crate::common::{Daemon, unique};

fn files_under(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_file() {
            out.push((p.display().to_string(), std::fs::read(&p).expect("read")));
        } else if p.is_dir() {
            out.extend(files_under(&p));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_stay_secret() {
    let mut d = Daemon::start();
    let app = unique("vault");
    let config_secret = format!("cfg-{}-plaintext", unique("s"));
    let setting_secret = format!("s3-{}-plaintext", unique("s"));
    let error_secret = format!("err-{}-plaintext", unique("s"));
    d.admin().ok(&["apps:create", &app]);
    d.admin().ok(&[
        "config:set",
        "-a",
        &app,
        &format!("API_KEY={config_secret}"),
    ]);
    d.admin().ok(&[
        "admin",
        "settings:set",
        "s3_secret_access_key",
        &setting_secret,
    ]);
    d.admin().ok(&[
        "admin",
        "settings:set",
        "swarm_join_token_worker",
        &setting_secret,
    ]);
    let user_token = d.user(&(unique("u") + "@example.com"), false);

    // Shown masked, read back intact where it belongs.
    let shown = d
        .admin()
        .json(&["admin", "settings:get", "s3_secret_access_key", "--json"]);
    assert_eq!(shown["value"], "********");
    assert!(
        !d.admin()
            .ok(&["admin", "settings"])
            .contains(&setting_secret)
    );
    assert_eq!(
        d.admin().ok(&["config:get", "-a", &app, "API_KEY"]).trim(),
        config_secret
    );

    // Errors never repeat a value.
    let errs = [
        d.admin()
            .fails(&["config:set", "-a", &app, &format!("1BAD={error_secret}")]),
        d.admin().fails(&[
            "config:set",
            "-a",
            &app,
            &format!("OK={error_secret}"),
            &format!("BIG={}{error_secret}", "x".repeat(33_000)),
        ]),
        d.admin().fails(&[
            "admin",
            "settings:set",
            "s3_secret_access_key",
            &format!("{error_secret}\u{7}"),
        ]),
        d.admin()
            .fails(&["config:set", "-a", "ghost", &format!("K={error_secret}")]),
    ];
    for e in &errs {
        assert!(!e.contains(&error_secret), "an error repeated a value: {e}");
    }

    // Stop the daemon so every page is on disk, then read every file raw.
    d.stop();
    let needles = [
        &config_secret,
        &setting_secret,
        &error_secret,
        &d.admin_token,
        &user_token,
    ];
    let files = files_under(&d.data_dir());
    assert!(files.iter().any(|(n, _)| n.ends_with("skypanel.db")));
    let log = d.log();
    assert!(log.contains("request"), "the daemon logs requests: {log}");
    for (name, bytes) in files
        .iter()
        .chain([(d.log_path().display().to_string(), log.into_bytes())].iter())
    {
        for needle in needles {
            assert!(
                !contains(bytes, needle),
                "{name} holds a secret in plaintext"
            );
        }
    }
}
