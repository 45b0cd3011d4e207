//! TLS material: parsing a PEM certificate chain and private key into what
//! the router serves (a rustls `CertifiedKey`) and what users are shown
//! (names, expiry, issuer), and the server-side SNI resolver over a live map
//! of certificates that the router swaps without a restart.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result, invalid};

/// The process-wide crypto provider: ring, as everywhere else in SkyPanel.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process default so every rustls user (reqwest,
/// instant-acme) agrees. Calling it twice is harmless.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A parsed, checked certificate with its key.
pub struct Parsed {
    pub key: Arc<CertifiedKey>,
    /// DNS names the leaf certificate covers (SANs, else the CN), lowercase.
    pub names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub issuer: String,
    pub serial: String,
}

impl Parsed {
    /// Whether the certificate is valid for `host` (exact or one-label wildcard).
    pub fn covers(&self, host: &str) -> bool {
        self.names.iter().any(|n| name_matches(n, host))
    }
}

/// `*.example.com` matches `a.example.com`, not `example.com` or `a.b.example.com`.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => pattern == host,
    }
}

/// Parses `chain_pem` (leaf first, then intermediates) and `key_pem` (PKCS#8,
/// PKCS#1 or SEC1), and checks the key belongs to the leaf. `what` names the
/// inputs in errors ("cert.pem and key.pem").
pub fn parse(chain_pem: &str, key_pem: &str) -> Result<Parsed> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            invalid(format!(
                "the certificate file is not PEM ({e}): give the certificate chain as \
                 -----BEGIN CERTIFICATE----- blocks, the server's certificate first"
            ))
        })?;
    if chain.is_empty() {
        return Err(invalid(
            "the certificate file has no -----BEGIN CERTIFICATE----- block: give the certificate \
             chain in PEM, the server's certificate first",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| {
        invalid(
            "the key file has no private key in PEM (-----BEGIN PRIVATE KEY-----, \
             -----BEGIN RSA PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----): give the \
             certificate's unencrypted private key",
        )
    })?;
    let (names, not_before, not_after, issuer, serial) = leaf_facts(&chain[0])?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| {
        invalid(format!(
            "the private key cannot be used ({e}): give an RSA, ECDSA P-256/P-384 or Ed25519 key"
        ))
    })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(invalid(
                "the private key does not belong to the certificate: give the key the certificate \
                 was issued for",
            ));
        }
    }
    Ok(Parsed {
        key: Arc::new(certified),
        names,
        not_before,
        not_after,
        issuer,
        serial,
    })
}

type LeafFacts = (Vec<String>, i64, i64, String, String);

fn leaf_facts(der: &CertificateDer<'_>) -> Result<LeafFacts> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| {
        invalid(format!(
            "the first certificate in the file cannot be read ({e}): give an X.509 certificate in PEM"
        ))
    })?;
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(s) = cn.as_str() {
                names.push(s.trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }
    let v = cert.validity();
    Ok((
        names,
        v.not_before.timestamp(),
        v.not_after.timestamp(),
        cert.issuer().to_string(),
        cert.raw_serial_as_string(),
    ))
}

/// The certificates the router serves, by hostname; wildcard entries
/// (`*.parent`) are kept apart by parent so a lookup never allocates.
/// Swapped whole, read on every handshake and plain-HTTP request.
#[derive(Default, Debug)]
pub struct CertMap {
    map: RwLock<Arc<Certs>>,
}

#[derive(Default, Debug)]
pub struct Certs {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` stored under `example.com`.
    wild: HashMap<String, Arc<CertifiedKey>>,
}

impl CertMap {
    /// Replaces every certificate; keys are hostnames or `*.parent`.
    pub fn replace(&self, map: HashMap<String, Arc<CertifiedKey>>) {
        let mut certs = Certs::default();
        for (host, key) in map {
            match host.strip_prefix("*.") {
                Some(parent) => certs.wild.insert(parent.to_string(), key),
                None => certs.exact.insert(host, key),
            };
        }
        *self.map.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(certs);
    }

    /// Every (hostname or `*.parent`, certificate).
    pub fn entries(&self) -> Vec<(String, Arc<CertifiedKey>)> {
        let certs = Arc::clone(&self.map.read().unwrap_or_else(|p| p.into_inner()));
        certs
            .exact
            .iter()
            .map(|(h, k)| (h.clone(), Arc::clone(k)))
            .chain(
                certs
                    .wild
                    .iter()
                    .map(|(p, k)| (format!("*.{p}"), Arc::clone(k))),
            )
            .collect()
    }

    pub fn get(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let certs = self.map.read().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = certs.exact.get(host) {
            return Some(Arc::clone(k));
        }
        let (label, parent) = host.split_once('.')?;
        if label.is_empty() {
            return None;
        }
        certs.wild.get(parent).cloned()
    }

    pub fn has(&self, host: &str) -> bool {
        let certs = self.map.read().unwrap_or_else(|p| p.into_inner());
        certs.exact.contains_key(host)
            || host
                .split_once('.')
                .is_some_and(|(l, parent)| !l.is_empty() && certs.wild.contains_key(parent))
    }
}

impl ResolvesServerCert for CertMap {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let host = hello
            .server_name()?
            .trim_end_matches('.')
            .to_ascii_lowercase();
        self.get(&host)
    }
}

/// The router's TLS server configuration: certificates by SNI from `certs`,
/// HTTP/2 and HTTP/1.1 offered by ALPN.
pub fn server_config(certs: Arc<CertMap>) -> Result<Arc<rustls::ServerConfig>> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS configuration: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", ".example.com"));
        assert!(name_matches("shop.example.com", "shop.example.com"));
        assert!(!name_matches("shop.example.com", "shop.example.org"));
    }

    #[test]
    fn the_map_finds_exact_names_then_wildcards() {
        let key = parse_test_key();
        let m = CertMap::default();
        m.replace(HashMap::from([
            ("shop.example.com".to_string(), Arc::clone(&key)),
            ("*.apps.example.com".to_string(), key),
        ]));
        assert!(m.has("shop.example.com"));
        assert!(m.has("a.apps.example.com"));
        assert!(!m.has("apps.example.com"));
        assert!(!m.has("a.b.apps.example.com"));
        assert!(!m.has(".apps.example.com"));
        assert!(m.get("b.apps.example.com").is_some());
        let mut names: Vec<String> = m.entries().into_iter().map(|(h, _)| h).collect();
        names.sort();
        assert_eq!(names, ["*.apps.example.com", "shop.example.com"]);
    }

    fn parse_test_key() -> Arc<CertifiedKey> {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["x.example.com".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let p = parse(&cert.pem(), &key.serialize_pem()).expect("parses");
        assert!(p.covers("x.example.com"));
        assert_eq!(p.names, ["x.example.com"]);
        assert!(p.not_after > p.not_before);
        p.key
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let key = rcgen::KeyPair::generate().expect("key");
        let other = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["x.example.com".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let e = parse(&cert.pem(), &other.serialize_pem())
            .err()
            .expect("refused");
        assert!(e.to_string().contains("does not belong"), "{e}");
    }

    #[test]
    fn garbage_is_refused_with_the_fix() {
        let e = parse("hello", "world").err().expect("refused");
        assert!(e.to_string().contains("BEGIN CERTIFICATE"), "{e}");
        let e = parse(
            "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
            "nothing",
        )
        .err()
        .expect("refused");
        assert!(e.to_string().contains("private key"), "{e}");
    }
}
