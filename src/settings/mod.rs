//! The settings registry (the seeds' `PaasSettingsService`): every key the
//! platform reads, with its type, default, whether it is secret, and what it is
//! for. Pure logic: values are checked and normalised here and stored by
//! `store::settings`, which seals the secret ones.

use std::net::IpAddr;

use crate::error::{Error, Result, invalid};
use crate::validate;

mod snapshot;

pub use snapshot::{Current, Seconds, Snapshot};

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Choice(&'static [&'static str]),
    Text,
    Url,
    Email,
    Domain,
    Ip,
    /// The name of an existing plan; existence is checked by the caller.
    Plan,
    /// A period: a whole number of `unit`s (seconds each) from 1 to `max`,
    /// or a duration like `12h` or `90s` (at least a second, at most `max` units).
    Period {
        unit: i64,
        unit_name: &'static str,
        max: i64,
    },
    /// An amount of money (may be negative), stored canonical.
    Money,
}

impl Kind {
    /// The allowed form, for listings and error messages.
    pub fn describe(&self) -> String {
        match self {
            Kind::Bool => "true or false".into(),
            Kind::Int { min, max } => format!("a whole number from {min} to {max}"),
            Kind::Choice(c) => format!("one of: {}", c.join(", ")),
            Kind::Text => "text".into(),
            Kind::Url => "an http:// or https:// URL".into(),
            Kind::Email => "an email address".into(),
            Kind::Domain => "a lowercase domain name like apps.example.com".into(),
            Kind::Ip => "an IPv4 or IPv6 address".into(),
            Kind::Plan => "the name of a plan (see `skypanel plans`)".into(),
            Kind::Period { unit_name, max, .. } => {
                format!("a number of {unit_name} from 1 to {max}, or a duration like 12h or 30m")
            }
            Kind::Money => "an amount like 0, 5.00 or -10.00 (at most 6 decimals)".into(),
        }
    }
}

#[derive(Debug)]
pub struct Def {
    pub key: &'static str,
    pub category: &'static str,
    pub kind: Kind,
    /// The value before anyone sets one; "" means unset.
    pub default: &'static str,
    pub secret: bool,
    /// May be cleared to "" (unset) by an admin.
    pub optional: bool,
    pub description: &'static str,
}

const fn def(
    key: &'static str,
    category: &'static str,
    kind: Kind,
    default: &'static str,
    description: &'static str,
) -> Def {
    Def {
        key,
        category,
        kind,
        default,
        secret: false,
        optional: false,
        description,
    }
}

const fn optional(mut d: Def) -> Def {
    d.optional = true;
    d
}

const fn secret(mut d: Def) -> Def {
    d.secret = true;
    d.optional = true;
    d
}

pub const DEFS: &[Def] = &[
    def(
        "storage_type",
        "storage",
        Kind::Choice(&["local", "s3"]),
        "local",
        "Where build artifacts, slugs and caches are kept.",
    ),
    optional(def(
        "local_storage_path",
        "storage",
        Kind::Text,
        "",
        "Folder of the local artifact store; empty means <data dir>/storage.",
    )),
    optional(def(
        "s3_endpoint",
        "storage",
        Kind::Url,
        "",
        "S3-compatible endpoint URL (path-style addressing).",
    )),
    def(
        "s3_region",
        "storage",
        Kind::Text,
        "us-east-1",
        "S3 region.",
    ),
    optional(def(
        "s3_bucket",
        "storage",
        Kind::Text,
        "",
        "S3 bucket for artifacts.",
    )),
    optional(def(
        "s3_access_key_id",
        "storage",
        Kind::Text,
        "",
        "S3 access key id.",
    )),
    secret(def(
        "s3_secret_access_key",
        "storage",
        Kind::Text,
        "",
        "S3 secret access key.",
    )),
    optional(def(
        "loki_endpoint",
        "logging",
        Kind::Url,
        "",
        "Loki base URL; when set, app logs are also pushed there.",
    )),
    def(
        "loki_retention_days",
        "logging",
        Kind::Period {
            unit: 86_400,
            unit_name: "days",
            max: 3650,
        },
        "7",
        "How long app logs are kept: days, or a duration like 12h.",
    ),
    def(
        "log_max_mb_per_app",
        "logging",
        Kind::Int {
            min: 1,
            max: 1_048_576,
        },
        "100",
        "The most log text (MiB) kept per app; its oldest lines go first.",
    ),
    def(
        "buildpack_default_stack",
        "buildpacks",
        Kind::Text,
        "heroku-22",
        "Stack used by buildpack builds.",
    ),
    def(
        "buildpack_cache_enabled",
        "buildpacks",
        Kind::Bool,
        "true",
        "Restore and save build caches between buildpack builds.",
    ),
    def(
        "buildpack_cache_ttl_hours",
        "buildpacks",
        Kind::Int { min: 1, max: 87600 },
        "168",
        "A build cache unused for this long is not restored.",
    ),
    def(
        "buildpack_cache_max_size_mb",
        "buildpacks",
        Kind::Int {
            min: 1,
            max: 1_048_576,
        },
        "1024",
        "A build cache larger than this is not saved.",
    ),
    def(
        "buildpack_cache_total_max_mb",
        "buildpacks",
        Kind::Int {
            min: 1,
            max: 10_485_760,
        },
        "10240",
        "All build caches together; the least recently used go first to stay under it.",
    ),
    def(
        "buildpack_builder_image",
        "buildpacks",
        Kind::Text,
        "gliderlabs/herokuish:latest",
        "Image that runs buildpacks: it gets the app in /app and the cache in /tmp/cache, and runs /build.",
    ),
    optional(def(
        "buildpack_runner_image",
        "buildpacks",
        Kind::Text,
        "",
        "Image a slug runs on (its /start PROCESS starts a process type); empty means the builder image.",
    )),
    def(
        "build_concurrency",
        "builds",
        Kind::Int { min: 1, max: 64 },
        "2",
        "How many builds run at once on this server; later pushes wait.",
    ),
    def(
        "build_queue_timeout",
        "builds",
        Kind::Int {
            min: 1,
            max: 86_400,
        },
        "600",
        "Seconds a push waits for a running build of the same app (or a free build slot) before it is refused.",
    ),
    def(
        "build_memory_limit",
        "builds",
        Kind::Int {
            min: 0,
            max: 1_048_576,
        },
        "0",
        "Memory limit of a build in MB (0: no limit).",
    ),
    def(
        "build_cpu_limit",
        "builds",
        Kind::Int {
            min: 0,
            max: 1_024_000,
        },
        "0",
        "CPU limit of a build in millicores, 1000 = one core (0: no limit).",
    ),
    def(
        "swarm_initialized",
        "swarm",
        Kind::Bool,
        "false",
        "Set by `skypanel admin init` once the Swarm is ready.",
    ),
    optional(def(
        "swarm_manager_ip",
        "swarm",
        Kind::Ip,
        "",
        "Address the Swarm manager advertises.",
    )),
    secret(def(
        "swarm_join_token_worker",
        "swarm",
        Kind::Text,
        "",
        "Swarm join token for workers.",
    )),
    secret(def(
        "swarm_join_token_manager",
        "swarm",
        Kind::Text,
        "",
        "Swarm join token for managers.",
    )),
    optional(def(
        "acme_email",
        "networking",
        Kind::Email,
        "",
        "Contact address given to the ACME server for certificates.",
    )),
    def(
        "default_domain",
        "networking",
        Kind::Domain,
        "localhost",
        "Apps answer at APP.<default_domain>.",
    ),
    optional(def(
        "panel_domain",
        "networking",
        Kind::Domain,
        "",
        "The API (and git) answer at this hostname through the router, over HTTPS once it has a certificate.",
    )),
    def(
        "acme_enabled",
        "networking",
        Kind::Bool,
        "false",
        "Request certificates by ACME automatically for new custom domains and for panel_domain.",
    ),
    def(
        "acme_directory_url",
        "networking",
        Kind::Url,
        "https://acme-v02.api.letsencrypt.org/directory",
        "The ACME server's directory (Let's Encrypt by default; its staging directory for trials).",
    ),
    optional(def(
        "acme_ca_file",
        "networking",
        Kind::Text,
        "",
        "PEM file of the root that signs the ACME server's own HTTPS certificate, for a private ACME server (empty: the system's roots).",
    )),
    def(
        "acme_renew_days",
        "networking",
        Kind::Int { min: 1, max: 36500 },
        "30",
        "ACME certificates are renewed this many days before they expire.",
    ),
    def(
        "router_backend_timeout_s",
        "networking",
        Kind::Int { min: 1, max: 3600 },
        "60",
        "Seconds the router waits for an app to start answering a request before it answers 504.",
    ),
    def(
        "router_idle_timeout_s",
        "networking",
        Kind::Int { min: 1, max: 86400 },
        "60",
        "Seconds a request or response body passing through the router may send nothing before it is cut off.",
    ),
    def(
        "router_request_timeout_s",
        "networking",
        Kind::Int { min: 1, max: 86400 },
        "3600",
        "The most seconds one request through the router may take, bodies included (WebSockets excepted).",
    ),
    def(
        "max_apps_per_org",
        "limits",
        Kind::Int {
            min: 0,
            max: 1_000_000,
        },
        "10",
        "Most apps one organization may have (0: no limit).",
    ),
    def(
        "max_deployments_per_hour",
        "limits",
        Kind::Int {
            min: 0,
            max: 1_000_000,
        },
        "20",
        "Most deployments one organization may start in an hour (0: no limit).",
    ),
    def(
        "release_images_keep",
        "swarm",
        Kind::Int { min: 1, max: 1000 },
        "5",
        "Images of this many newest releases of an app are kept; older ones are removed.",
    ),
    def(
        "billing_currency",
        "billing",
        Kind::Text,
        "USD",
        "The currency wallets, prices and statements are shown in (a label; amounts are not converted).",
    ),
    def(
        "billing_suspend_threshold",
        "billing",
        Kind::Money,
        "0.00",
        "An org whose balance falls to or below this is suspended: its apps scale to zero until a credit lifts it above.",
    ),
    def(
        "billing_low_balance_hours",
        "billing",
        Kind::Int { min: 0, max: 8760 },
        "24",
        "Raise a low-balance alert (event and billing webhook) when an org's runway drops below this many hours (0: never).",
    ),
    def(
        "billing_max_catchup_hours",
        "billing",
        Kind::Int { min: 0, max: 8760 },
        "72",
        "Hours missed while the daemon was down are billed on restart, at most this many (from the replicas last seen).",
    ),
    def(
        "health_check_interval_s",
        "health",
        Kind::Int { min: 1, max: 3600 },
        "60",
        "Seconds between two health probes of each live web task.",
    ),
    def(
        "health_check_failures",
        "health",
        Kind::Int { min: 1, max: 100 },
        "3",
        "Consecutive failed probes after which a web task is replaced.",
    ),
    def(
        "node_monitor_interval_s",
        "swarm",
        Kind::Int { min: 1, max: 3600 },
        "30",
        "Seconds between two checks of the Swarm's nodes.",
    ),
    optional(def(
        "alert_webhook_url",
        "alerts",
        Kind::Url,
        "",
        "Where node down/up alerts are POSTed as JSON.",
    )),
    def(
        "default_plan",
        "plans",
        Kind::Plan,
        "hobby",
        "Plan given to new apps that name none.",
    ),
];

pub fn lookup(key: &str) -> Result<&'static Def> {
    DEFS.iter().find(|d| d.key == key).ok_or_else(|| {
        Error::NotFound(format!(
            "unknown setting \"{}\": run `skypanel admin settings` to list the keys",
            validate::printable(key)
        ))
    })
}

/// The seconds in a stored `Kind::Period` value (`unit` seconds a whole number).
pub fn duration_secs(value: &str, unit: i64) -> Option<i64> {
    match value.trim().parse::<i64>() {
        Ok(n) => Some(n.saturating_mul(unit)),
        Err(_) => humantime::parse_duration(value.trim())
            .ok()
            .map(|d| d.as_secs() as i64),
    }
}

/// Checks `value` against the key's type and returns its normalised form.
/// A secret value is never repeated in the error.
pub fn normalize(def: &Def, value: &str) -> Result<String> {
    let v = value.trim();
    let shown = if def.secret {
        "(hidden)".to_string()
    } else {
        format!("\"{}\"", validate::printable(value))
    };
    let bad = || {
        invalid(format!(
            "setting {} must be {}; got {shown}",
            def.key,
            def.kind.describe()
        ))
    };
    if v.is_empty() {
        return if def.optional {
            Ok(String::new())
        } else {
            Err(invalid(format!(
                "setting {} cannot be empty: it must be {} (use `settings:unset` to restore the default {})",
                def.key,
                def.kind.describe(),
                def.default
            )))
        };
    }
    let out = match def.kind {
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => "true".to_string(),
            "false" | "no" | "off" | "0" => "false".to_string(),
            _ => return Err(bad()),
        },
        Kind::Int { min, max } => match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => n.to_string(),
            _ => return Err(bad()),
        },
        Kind::Choice(choices) => match choices.iter().find(|c| **c == v) {
            Some(c) => c.to_string(),
            None => return Err(bad()),
        },
        Kind::Money => crate::units::Money::parse(def.key, v)
            .map_err(|_| bad())?
            .format(6),
        Kind::Text => {
            if v.chars().any(char::is_control) || v.len() > 4096 {
                return Err(bad());
            }
            v.to_string()
        }
        Kind::Url => {
            let rest = v
                .strip_prefix("http://")
                .or_else(|| v.strip_prefix("https://"));
            match rest {
                Some(r)
                    if !r.is_empty()
                        && !r.starts_with('/')
                        && !v.chars().any(char::is_whitespace) =>
                {
                    v.trim_end_matches('/').to_string()
                }
                _ => return Err(bad()),
            }
        }
        Kind::Email => {
            validate::email(v).map_err(|_| bad())?;
            v.to_string()
        }
        Kind::Domain => {
            if !validate::domain(v) {
                return Err(bad());
            }
            v.to_string()
        }
        Kind::Ip => v.parse::<IpAddr>().map_err(|_| bad())?.to_string(),
        Kind::Plan => {
            validate::plan_name(v).map_err(|_| bad())?;
            v.to_string()
        }
        Kind::Period { unit, max, .. } => match v.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => n.to_string(),
            Ok(_) => return Err(bad()),
            Err(_) => match humantime::parse_duration(v) {
                Ok(d) if d.as_secs() >= 1 && (d.as_secs() as i64) <= max.saturating_mul(unit) => {
                    humantime::format_duration(std::time::Duration::from_secs(d.as_secs()))
                        .to_string()
                }
                _ => return Err(bad()),
            },
        },
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_the_seed_keys() {
        for key in [
            "storage_type",
            "local_storage_path",
            "s3_endpoint",
            "s3_bucket",
            "s3_secret_access_key",
            "loki_endpoint",
            "loki_retention_days",
            "buildpack_default_stack",
            "buildpack_cache_enabled",
            "buildpack_cache_ttl_hours",
            "buildpack_cache_max_size_mb",
            "swarm_initialized",
            "swarm_manager_ip",
            "swarm_join_token_worker",
            "swarm_join_token_manager",
            "acme_email",
            "default_domain",
            "max_apps_per_org",
            "max_deployments_per_hour",
            "default_plan",
            "release_images_keep",
            "node_monitor_interval_s",
            "alert_webhook_url",
        ] {
            assert!(lookup(key).is_ok(), "{key}");
        }
        for d in DEFS {
            if !d.default.is_empty() {
                assert_eq!(
                    normalize(d, d.default).expect("default valid"),
                    d.default,
                    "{}",
                    d.key
                );
            }
        }
    }

    #[test]
    fn values_are_typed() {
        let days = lookup("loki_retention_days").expect("key");
        assert_eq!(normalize(days, " 14 ").expect("ok"), "14");
        let e = normalize(days, "0").expect_err("out of range").to_string();
        assert!(
            e.contains("a number of days from 1 to 3650") && e.contains("\"0\""),
            "{e}"
        );
        assert_eq!(normalize(days, "36h").expect("ok"), "1day 12h");
        assert_eq!(duration_secs("1day 12h", 86_400), Some(129_600));
        assert_eq!(duration_secs("7", 86_400), Some(604_800));
        assert!(normalize(days, "0s").is_err() && normalize(days, "11000days").is_err());
        assert!(normalize(days, "soon").is_err());
        let b = lookup("buildpack_cache_enabled").expect("key");
        assert_eq!(normalize(b, "Yes").expect("ok"), "true");
        assert!(normalize(lookup("storage_type").expect("k"), "ftp").is_err());
        assert!(normalize(lookup("s3_endpoint").expect("k"), "localhost:9000").is_err());
        assert!(normalize(lookup("swarm_manager_ip").expect("k"), "10.0.0.300").is_err());
        let s = lookup("s3_secret_access_key").expect("key");
        let e = normalize(s, "zq9hidden\u{7}")
            .expect_err("control char")
            .to_string();
        assert!(
            e.contains("(hidden)") && !e.contains("zq9hidden"),
            "secret echoed: {e}"
        );
    }
}
