//! The daemon's outbound HTTP clients, each built once instead of once per
//! call: [`client`] for webhooks, the Loki sink and node alerts (one pool,
//! one TLS set-up), and [`probe_client`] for health probes, which keeps no
//! idle connection: every probe opens its own, as a user's request would,
//! so a probe never fails on a connection the app closed meanwhile. Each
//! request sets its own time limit.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};

pub const USER_AGENT: &str = concat!("SkyPanel/", env!("CARGO_PKG_VERSION"));

type Built = OnceLock<std::result::Result<reqwest::Client, String>>;

static CLIENT: Built = OnceLock::new();
static PROBES: Built = OnceLock::new();

/// The shared client (connect timeout 10 s; no overall limit — give each
/// request its own with `.timeout`).
pub fn client() -> Result<&'static reqwest::Client> {
    built(&CLIENT, || {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(USER_AGENT)
    })
}

/// The health probes' client: no idle connections kept, no user agent (as
/// the probes always sent).
pub fn probe_client() -> Result<&'static reqwest::Client> {
    built(&PROBES, || {
        reqwest::Client::builder().pool_max_idle_per_host(0)
    })
}

fn built(
    cell: &'static Built,
    make: impl FnOnce() -> reqwest::ClientBuilder,
) -> Result<&'static reqwest::Client> {
    cell.get_or_init(|| {
        crate::tls::install_default_provider();
        make().build().map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_client_is_built_once() {
        let a = super::client().expect("client") as *const reqwest::Client;
        let b = super::client().expect("client") as *const reqwest::Client;
        assert_eq!(a, b);
        let p = super::probe_client().expect("probes") as *const reqwest::Client;
        assert_ne!(a, p, "probes keep no pool of their own connections");
    }
}
