//! Validation of names and values that come from users. Every function returns
//! an error that names the input and says what a valid one looks like.

use crate::error::{Result, invalid};

pub const MAX_NAME: usize = 30;
pub const MAX_CONFIG_VALUE: usize = 32 * 1024;

/// Names that would collide with the platform's own hosts or paths.
const RESERVED: &[&str] = &[
    "admin",
    "api",
    "app",
    "apps",
    "assets",
    "auth",
    "cdn",
    "dashboard",
    "default",
    "docs",
    "ftp",
    "git",
    "grafana",
    "help",
    "imap",
    "internal",
    "localhost",
    "login",
    "loki",
    "mail",
    "metrics",
    "ns1",
    "ns2",
    "panel",
    "pop",
    "prometheus",
    "registry",
    "root",
    "skypanel",
    "smtp",
    "ssh",
    "static",
    "status",
    "support",
    "system",
    "www",
];

fn dns_label_ok(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn name(kind: &str, name: &str) -> Result<()> {
    if !dns_label_ok(name) {
        return Err(invalid(format!(
            "{kind} name \"{}\" is invalid: use lowercase letters, digits and dashes, starting with a \
             letter and not ending with a dash (max {MAX_NAME})",
            printable(name)
        )));
    }
    if RESERVED.contains(&name) {
        return Err(invalid(format!(
            "{kind} name \"{name}\" is reserved by the platform: choose another name"
        )));
    }
    Ok(())
}

/// App names become subdomains, so they are DNS labels.
pub fn app_name(n: &str) -> Result<()> {
    name("app", n)
}

pub fn org_name(n: &str) -> Result<()> {
    name("organization", n)
}

pub fn plan_name(n: &str) -> Result<()> {
    let b = n.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= MAX_NAME
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "plan name \"{}\" is invalid: use lowercase letters, digits, dashes and underscores, \
             starting with a letter (max {MAX_NAME})",
            printable(n)
        )))
    }
}

pub fn config_key(key: &str) -> Result<()> {
    let b = key.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 256
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "config var name \"{}\" is invalid: use letters, digits and underscores, not starting with \
             a digit (like DATABASE_URL)",
            printable(key)
        )))
    }
}

/// A git branch name as `git check-ref-format --branch` would take it,
/// restricted to a safe subset: letters, digits, `-`, `_`, `.` and `/`.
pub fn branch_name(b: &str) -> Result<()> {
    let ok = !b.is_empty()
        && b.len() <= 200
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_./".contains(&c))
        && !b.starts_with(['-', '/', '.'])
        && !b.ends_with(['/', '.'])
        && !b.contains("..")
        && !b.contains("//")
        && !b.ends_with(".lock");
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "branch name \"{}\" is invalid: use letters, digits, -, _, . and / (like main or release/v2)",
            printable(b)
        )))
    }
}

/// Values are any UTF-8 (guaranteed by the type) up to 32 KiB. The message never
/// repeats the value: it may be a secret.
pub fn config_value(key: &str, value: &str) -> Result<()> {
    if value.len() > MAX_CONFIG_VALUE {
        return Err(invalid(format!(
            "the value of config var {key} is {} bytes: the limit is {MAX_CONFIG_VALUE} bytes (32 KiB)",
            value.len()
        )));
    }
    if value.contains('\0') {
        return Err(invalid(format!(
            "the value of config var {key} contains a NUL byte, which no process environment can hold"
        )));
    }
    Ok(())
}

pub fn email(e: &str) -> Result<()> {
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(|c| c.is_whitespace() || c.is_control())
                && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "email \"{}\" is invalid: use the form name@example.com",
            printable(e)
        )))
    }
}

/// A DNS name (RFC 1123), lowercase, with at least one label.
pub fn domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Shortens and escapes a user's input before it goes into a message.
pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_default).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        for ok in ["shop", "a", "shop-2", "a1b2"] {
            assert!(app_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Shop_1",
            "1shop",
            "shop-",
            "sh--op",
            "www",
            "api",
            &"a".repeat(31),
            "shöp",
        ] {
            assert!(app_name(bad).is_err(), "{bad}");
        }
        let msg = app_name("Shop_1").expect_err("bad").to_string();
        assert!(msg.contains("\"Shop_1\"") && msg.contains("lowercase letters, digits and dashes"));
    }

    #[test]
    fn config_keys_and_values() {
        for ok in ["A", "_X", "DATABASE_URL", "a1"] {
            assert!(config_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "Ä"] {
            assert!(config_key(bad).is_err(), "{bad}");
        }
        assert!(config_value("K", &"x".repeat(MAX_CONFIG_VALUE)).is_ok());
        let err = config_value("K", &"secretvalue".repeat(4000)).expect_err("too long");
        assert!(!err.to_string().contains("secretvalue"));
    }

    #[test]
    fn emails_and_domains() {
        assert!(email("ann@example.com").is_ok());
        for bad in ["ann", "@x", "a@", "a b@x.com", "a@.x"] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(domain("example.com") && domain("localhost") && domain("a-1.b.c"));
        assert!(!domain("Example.com") && !domain("-a.com") && !domain("a..b") && !domain(""));
    }
}
