//! The one HTTP client for the daemon's outbound requests (health probes,
//! webhooks, the Loki sink, node alerts, the S3 artifact store): one
//! connection pool and one TLS set-up instead of one per call. Each request
//! sets its own time limit.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};

pub const USER_AGENT: &str = concat!("SkyPanel/", env!("CARGO_PKG_VERSION"));

static CLIENT: OnceLock<std::result::Result<reqwest::Client, String>> = OnceLock::new();

/// The shared client (connect timeout 10 s; no overall limit — give each
/// request its own with `.timeout`).
pub fn client() -> Result<&'static reqwest::Client> {
    CLIENT
        .get_or_init(|| {
            crate::tls::install_default_provider();
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .user_agent(USER_AGENT)
                .build()
                .map_err(|e| e.to_string())
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
    }
}
