//! `Procfile` (process types and the `release:` command) and `app.json`
//! (Dokku's `healthchecks.web` and `scripts.predeploy`).

use std::collections::BTreeMap;

use crate::store::Checks;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Procfile {
    /// Process type → command line, `release` excluded.
    pub processes: BTreeMap<String, String>,
    pub release: Option<String>,
}

fn process_type_ok(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 20
        && p.as_bytes()[0].is_ascii_lowercase()
        && p.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

/// Parses a Procfile; the error names the line and how to fix it.
pub fn parse_procfile(text: &str) -> Result<Procfile, String> {
    let mut out = Procfile::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, cmd)) = line.split_once(':') else {
            return Err(format!(
                "Procfile line {}: \"{}\" is not `type: command`",
                i + 1,
                crate::validate::printable(line)
            ));
        };
        let (name, cmd) = (name.trim(), cmd.trim());
        if !process_type_ok(name) {
            return Err(format!(
                "Procfile line {}: process type \"{}\" is invalid: use lowercase letters, digits, - and _, \
                 starting with a letter (max 20)",
                i + 1,
                crate::validate::printable(name)
            ));
        }
        if cmd.is_empty() {
            return Err(format!("Procfile line {}: {name} has no command", i + 1));
        }
        if name == "release" {
            out.release = Some(cmd.to_string());
        } else if out
            .processes
            .insert(name.to_string(), cmd.to_string())
            .is_some()
        {
            return Err(format!("Procfile line {}: {name} is defined twice", i + 1));
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppJson {
    pub checks: Option<Checks>,
    pub predeploy: Option<String>,
}

/// Reads the parts of `app.json` the platform uses. `base` are the app's
/// current checks: fields app.json leaves out keep their value.
pub fn parse_app_json(text: &str, base: &Checks) -> Result<AppJson, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("app.json is not valid JSON: {e}"))?;
    let mut out = AppJson::default();
    let script = |p: &serde_json::Value| {
        p.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    out.predeploy =
        script(&v["scripts"]["dokku"]["predeploy"]).or_else(|| script(&v["scripts"]["predeploy"]));
    let web = &v["healthchecks"]["web"];
    if web.is_null() {
        return Ok(out);
    }
    let list = web
        .as_array()
        .ok_or("app.json healthchecks.web must be a list of checks")?;
    // The first check of type startup (or with no type) with a path sets the deploy checks.
    let Some(c) = list
        .iter()
        .find(|c| matches!(c["type"].as_str(), None | Some("startup")) && c.is_object())
    else {
        return Ok(out);
    };
    let num = |k: &str, min: i64, max: i64| -> Result<Option<i64>, String> {
        match &c[k] {
            serde_json::Value::Null => Ok(None),
            x => match x.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(format!(
                    "app.json healthchecks.web {k} must be a whole number from {min} to {max}"
                )),
            },
        }
    };
    let mut checks = base.clone();
    checks.enabled = true;
    if let Some(p) = c["path"].as_str() {
        if !p.starts_with('/') || p.chars().any(char::is_whitespace) {
            return Err(format!(
                "app.json healthchecks.web path \"{}\" must start with / and have no spaces",
                crate::validate::printable(p)
            ));
        }
        checks.path = p.to_string();
    }
    if let Some(n) = num("attempts", 1, 100)? {
        checks.attempts = n;
    }
    if let Some(n) = num("timeout", 1, 600)? {
        checks.timeout = n;
    }
    if let Some(n) = num("wait", 0, 600)?.or(num("initialDelay", 0, 600)?) {
        checks.wait = n;
    }
    out.checks = Some(checks);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procfiles() {
        let p = parse_procfile(
            "# comment\nweb: httpd -f -p $PORT\nworker:  sh -c 'sleep 1'\n\nrelease: ./migrate\n",
        )
        .expect("parse");
        assert_eq!(p.processes["web"], "httpd -f -p $PORT");
        assert_eq!(p.processes["worker"], "sh -c 'sleep 1'");
        assert_eq!(p.release.as_deref(), Some("./migrate"));
        assert!(!p.processes.contains_key("release"));
        assert!(
            parse_procfile("web httpd")
                .expect_err("an error")
                .contains("line 1")
        );
        assert!(
            parse_procfile("Web: x")
                .expect_err("an error")
                .contains("process type")
        );
        assert!(
            parse_procfile("web:")
                .expect_err("an error")
                .contains("no command")
        );
        assert!(
            parse_procfile("web: a\nweb: b")
                .expect_err("an error")
                .contains("twice")
        );
    }

    #[test]
    fn app_json_checks_and_predeploy() {
        let base = Checks {
            enabled: false,
            path: "/".into(),
            attempts: 10,
            timeout: 5,
            wait: 1,
        };
        let a = parse_app_json(
            r#"{"scripts": {"dokku": {"predeploy": "./seed"}},
                "healthchecks": {"web": [{"type": "startup", "path": "/ready", "attempts": 4, "initialDelay": 2}]}}"#,
            &base,
        )
        .expect("parse");
        assert_eq!(a.predeploy.as_deref(), Some("./seed"));
        assert_eq!(
            a.checks,
            Some(Checks {
                enabled: true,
                path: "/ready".into(),
                attempts: 4,
                timeout: 5,
                wait: 2
            })
        );
        let b = parse_app_json(r#"{"scripts": {"predeploy": "x"}}"#, &base).expect("parse");
        assert_eq!((b.predeploy.as_deref(), b.checks), (Some("x"), None));
        assert!(parse_app_json("{", &base).is_err());
        assert!(
            parse_app_json(r#"{"healthchecks": {"web": [{"path": "ready"}]}}"#, &base).is_err()
        );
        assert!(parse_app_json(r#"{"healthchecks": {"web": [{"attempts": 0}]}}"#, &base).is_err());
    }
}
