//! HTTPS through the router: bring-your-own certificates, the HTTP → HTTPS
//! redirect, HTTP/2 by ALPN, live certificate swaps, and ACME against a real
//! ACME server (Debian's pebble with pebble-challtestsrv for DNS).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
};
use serde_json::Value;

use crate::common::{Daemon, ensure_images, unique};

/// A throwaway certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer =
            CertifiedIssuer::self_signed(p, KeyPair::generate().expect("key")).expect("ca");
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.as_ref().pem()
    }

    /// (certificate PEM, key PEM) for `names`.
    fn leaf(&self, names: &[&str], expired: bool) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params");
        p.distinguished_name = DistinguishedName::new();
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = p.signed_by(&key, &self.issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// A client that trusts only `root_pem` and reaches `hosts` at `addr`.
fn https_client(
    root_pem: &str,
    hosts: &[&str],
    addr: &str,
    http1: bool,
) -> reqwest::blocking::Client {
    crate::common::tls_init();
    let addr: SocketAddr = addr.parse().expect("router address");
    let mut b = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only([reqwest::Certificate::from_pem(root_pem.as_bytes()).expect("root")])
        .tls_info(true);
    if http1 {
        b = b.http1_only();
    }
    for h in hosts {
        b = b.resolve(h, addr);
    }
    b.build().expect("client")
}

struct Answer {
    status: u16,
    version: reqwest::Version,
    peer_cert: Vec<u8>,
    body: String,
}

fn get_https(
    client: &reqwest::blocking::Client,
    host: &str,
    port: u16,
    path: &str,
) -> Result<Answer, String> {
    let r = client
        .get(format!("https://{host}:{port}{path}"))
        .send()
        .map_err(|e| format!("{e:?}"))?;
    let peer_cert = r
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    Ok(Answer {
        status: r.status().as_u16(),
        version: r.version(),
        peer_cert,
        body: r.text().unwrap_or_default(),
    })
}

/// Polls until `f` gives Some, or panics with `what` after 60 s.
fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// GET http://router/path with `host`: (status, Location, body).
fn get_http(d: &Daemon, host: &str, path: &str) -> (u16, String, String) {
    crate::common::tls_init();
    let r = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("http://{}{path}", d.router))
        .header("host", host)
        .send();
    match r {
        Ok(r) => {
            let loc = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (r.status().as_u16(), loc, r.text().unwrap_or_default())
        }
        Err(e) => (0, String::new(), e.to_string()),
    }
}

fn cert_of<'a>(certs: &'a Value, host: &str) -> &'a Value {
    certs["certs"]
        .as_array()
        .expect("certs")
        .iter()
        .find(|c| c["hostname"] == host)
        .unwrap_or_else(|| panic!("{host} in {certs}"))
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

#[test]
fn own_certificates_serve_https_with_http2_redirects_and_live_swaps() {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    let app = unique("tls");
    let default_host = format!("{app}.localhost");
    let domain = format!("{}.example.com", unique("secure"));
    d.admin().ok(&["apps:create", &app, "--no-remote"]);
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    d.admin().ok(&["domains:add", "-a", &app, &domain]);
    until("the app on HTTP", || {
        (get_http(&d, &domain, "/").0 == 200).then_some(())
    });
    let certs = d.cli(&tok).json(&["certs", "-a", &app, "--json"]);
    assert_eq!(cert_of(&certs, &domain)["status"], "none", "{certs}");
    assert_eq!(cert_of(&certs, &default_host)["status"], "none", "{certs}");
    assert_eq!(certs["https_redirect"], true);

    let files = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("SkyPanel test CA");
    let (cert, key) = ca.leaf(&[&domain], false);
    let cert_path = write(files.path(), "cert.pem", &cert);
    let key_path = write(files.path(), "key.pem", &key);

    // Bad input: each refused with what to do, nothing stored.
    let (_, other_key) = ca.leaf(&[&domain], false);
    let other_key_path = write(files.path(), "other-key.pem", &other_key);
    let (foreign, foreign_key) = ca.leaf(&["elsewhere.example.org"], false);
    let foreign_path = write(files.path(), "foreign.pem", &foreign);
    let foreign_key_path = write(files.path(), "foreign-key.pem", &foreign_key);
    let (expired, expired_key) = ca.leaf(&[&domain], true);
    let expired_path = write(files.path(), "expired.pem", &expired);
    let expired_key_path = write(files.path(), "expired-key.pem", &expired_key);
    let garbage = write(files.path(), "garbage.pem", "not a certificate\n");
    let s = |p: &PathBuf| p.to_string_lossy().into_owned();
    for (args, want) in [
        (
            vec![s(&cert_path), s(&other_key_path)],
            "does not belong to the certificate",
        ),
        (
            vec![s(&foreign_path), s(&foreign_key_path)],
            "covers none of",
        ),
        (
            vec![s(&expired_path), s(&expired_key_path)],
            "expired on 2021-01-01",
        ),
        (vec![s(&garbage), s(&key_path)], "BEGIN CERTIFICATE"),
        (vec![s(&cert_path), s(&garbage)], "private key"),
        (
            vec![s(&cert_path), "/nonexistent/key.pem".into()],
            "cannot read the private key file",
        ),
    ] {
        let mut argv = vec!["certs:add", "-a", app.as_str()];
        argv.extend(args.iter().map(String::as_str));
        let err = d.cli(&tok).fails(&argv);
        assert!(err.contains(want), "{argv:?}: {err}");
    }
    let after = d.cli(&tok).json(&["certs", "-a", &app, "--json"]);
    assert_eq!(cert_of(&after, &domain)["status"], "none", "{after}");

    let out = d
        .cli(&tok)
        .ok(&["certs:add", "-a", &app, &s(&cert_path), &s(&key_path)]);
    assert!(out.contains(&format!("HTTPS for {domain}")), "{out}");
    let certs = d.cli(&tok).json(&["certs", "-a", &app, "--json"]);
    let c = cert_of(&certs, &domain);
    assert_eq!(c["status"], "issued", "{certs}");
    assert_eq!(c["source"], "manual", "{certs}");
    assert!(c["expires_at"].as_str().is_some(), "{certs}");
    assert_eq!(cert_of(&certs, &default_host)["status"], "none");
    let table = d.cli(&tok).ok(&["certs", "-a", &app]);
    assert!(
        table.contains(&domain) && table.contains("issued"),
        "{table}"
    );

    // The key and the chain are stored sealed: their base64 bodies are
    // nowhere in the database files.
    let key_line = key.lines().nth(1).expect("a key line").to_string();
    let cert_line = cert.lines().nth(1).expect("a certificate line").to_string();
    for f in ["skypanel.db", "skypanel.db-wal"] {
        let bytes = std::fs::read(d.data_dir().join(f)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&key_line),
            "the private key is in {f} in the clear"
        );
        assert!(
            !text.contains(&cert_line),
            "the certificate is in {f} in the clear"
        );
    }

    // HTTPS by SNI, HTTP/2 by ALPN, and HTTP/1.1 for clients that want it.
    let port = port_of(&d.router_tls);
    let h2 = https_client(&ca.pem(), &[&domain, &default_host], &d.router_tls, false);
    let a = until("HTTPS for the domain", || {
        get_https(&h2, &domain, port, "/cgi-bin/env").ok()
    });
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.version, reqwest::Version::HTTP_2);
    assert!(
        a.body.contains("HTTP_X_FORWARDED_PROTO=https"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains(&format!("HTTP_HOST={domain}")),
        "{}",
        a.body
    );
    let first_cert = a.peer_cert.clone();
    let h1 = https_client(&ca.pem(), &[&domain], &d.router_tls, true);
    let a = get_https(&h1, &domain, port, "/").expect("HTTP/1.1 over TLS");
    assert_eq!((a.status, a.version), (200, reqwest::Version::HTTP_11));
    assert!(a.body.contains("web v1"), "{}", a.body);
    // No certificate for the default hostname: the handshake fails.
    let err = get_https(&h2, &default_host, port, "/")
        .err()
        .expect("no certificate");
    assert!(!err.is_empty());

    // Plain HTTP to a hostname with a certificate redirects (path and query kept).
    let (st, loc, _) = get_http(&d, &domain, "/cgi-bin/env?x=1");
    assert_eq!(st, 308);
    assert_eq!(loc, format!("https://{domain}:{port}/cgi-bin/env?x=1"));
    // Not for the hostname without one.
    assert_eq!(get_http(&d, &default_host, "/").0, 200);
    // Per app, the redirect can be turned off.
    d.cli(&tok).ok(&["certs:redirect", "-a", &app, "off"]);
    until("the redirect off", || {
        (get_http(&d, &domain, "/").0 == 200).then_some(())
    });
    let certs = d.cli(&tok).json(&["certs", "-a", &app, "--json"]);
    assert_eq!(certs["https_redirect"], false);
    d.cli(&tok).ok(&["certs:redirect", "-a", &app, "on"]);
    until("the redirect on", || {
        (get_http(&d, &domain, "/").0 == 308).then_some(())
    });

    // A new certificate is served to new connections without a restart.
    let (cert2, key2) = ca.leaf(&[&domain, &default_host], false);
    let cert2_path = write(files.path(), "cert2.pem", &cert2);
    let key2_path = write(files.path(), "key2.pem", &key2);
    let out = d
        .cli(&tok)
        .ok(&["certs:add", "-a", &app, &s(&cert2_path), &s(&key2_path)]);
    assert!(out.contains(&default_host), "{out}");
    until("the new certificate", || {
        let c = https_client(&ca.pem(), &[&domain], &d.router_tls, false);
        get_https(&c, &domain, port, "/")
            .ok()
            .filter(|a| !a.peer_cert.is_empty() && a.peer_cert != first_cert)
    });
    let c = https_client(&ca.pem(), &[&default_host], &d.router_tls, false);
    let a = until("HTTPS for the default hostname", || {
        get_https(&c, &default_host, port, "/").ok()
    });
    assert_eq!(a.status, 200);

    // Removing a certificate: that hostname is back on plain HTTP only.
    let err = d
        .cli(&tok)
        .fails(&["certs:remove", "-a", &app, "nope.example.com"]);
    assert!(err.contains("has no certificate for"), "{err}");
    d.cli(&tok).ok(&["certs:remove", "-a", &app, &domain]);
    until("HTTP without a redirect", || {
        (get_http(&d, &domain, "/").0 == 200).then_some(())
    });
    until("no certificate for the domain", || {
        let c = https_client(&ca.pem(), &[&domain], &d.router_tls, false);
        get_https(&c, &domain, port, "/").err()
    });
    // Removing a domain takes its certificate with it.
    d.admin().ok(&["domains:remove", "-a", &app, &domain]);
    let certs = d.cli(&tok).json(&["certs", "-a", &app, "--json"]);
    assert!(
        !certs.to_string().contains(&domain),
        "a removed domain leaves no certificate row: {certs}"
    );
}

/// A free TCP port on 127.0.0.1 (for servers that need a port number up front).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// pebble and pebble-challtestsrv for one test, killed when dropped.
struct Pebble {
    children: Vec<Child>,
    dir: tempfile::TempDir,
    directory: String,
    ca_file: PathBuf,
    listen_ca: String,
    management: u16,
    challtest: u16,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Pebble {
    /// Starts pebble validating HTTP-01 on `http_port` (the router's), with
    /// every name resolving to 127.0.0.1, and certificates valid `validity_s`.
    fn start(http_port: u16, validity_s: u64) -> Pebble {
        let dir = tempfile::tempdir().expect("tempdir");
        // pebble's own HTTPS listener needs a certificate: one from a test CA.
        let ca = Ca::new("pebble listener CA");
        let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"], false);
        write(dir.path(), "listen-cert.pem", &cert);
        write(dir.path(), "listen-key.pem", &key);
        let ca_file = write(dir.path(), "listen-ca.pem", &ca.pem());
        let (acme, management, dns, challtest) =
            (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.path().join("listen-cert.pem"),
            "privateKey": dir.path().join("listen-key.pem"),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": validity_s,
        }});
        write(dir.path(), "pebble.json", &config.to_string());
        let log = |name: &str| {
            Stdio::from(std::fs::File::create(dir.path().join(name)).expect("log file"))
        };
        let mut children = Vec::new();
        children.push(
            Command::new("pebble-challtestsrv")
                .args([
                    "-defaultIPv4",
                    "127.0.0.1",
                    "-defaultIPv6",
                    "",
                    "-dns01",
                    &format!("127.0.0.1:{dns}"),
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                    "-management",
                    &format!("127.0.0.1:{challtest}"),
                ])
                .stdout(log("challtestsrv.log"))
                .stderr(log("challtestsrv.err"))
                .spawn()
                .expect("pebble-challtestsrv (apt-get install pebble; tests/setup.sh does)"),
        );
        children.push(
            Command::new("pebble")
                .arg("-config")
                .arg(dir.path().join("pebble.json"))
                .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0")
                .stdout(log("pebble.log"))
                .stderr(log("pebble.err"))
                .spawn()
                .expect("pebble (apt-get install pebble; tests/setup.sh does)"),
        );
        let p = Pebble {
            children,
            directory: format!("https://127.0.0.1:{acme}/dir"),
            ca_file,
            listen_ca: ca.pem(),
            management,
            challtest,
            dir,
        };
        wait_port(
            challtest,
            "pebble-challtestsrv",
            &p.dir.path().join("challtestsrv.log"),
        );
        wait_port(acme, "pebble", &p.dir.path().join("pebble.log"));
        wait_port(management, "pebble", &p.dir.path().join("pebble.log"));
        p
    }

    /// The root that signs the certificates pebble issues (made at its start).
    fn issuing_root(&self) -> String {
        crate::common::tls_init();
        reqwest::blocking::Client::builder()
            .tls_certs_only(
                [reqwest::Certificate::from_pem(self.listen_ca.as_bytes()).expect("ca")],
            )
            .build()
            .expect("client")
            .get(format!("https://127.0.0.1:{}/roots/0", self.management))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.text())
            .expect("pebble's root")
    }

    /// Makes `host` resolve to `ip` for pebble's validation.
    fn resolve(&self, host: &str, ip: &str) {
        let st = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{}/add-a", self.challtest))
            .json(&serde_json::json!({"host": format!("{host}."), "addresses": [ip]}))
            .send()
            .expect("challtestsrv")
            .status();
        assert!(st.is_success(), "add-a: {st}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }
}

#[test]
fn acme_issues_renews_and_records_failures_against_pebble() {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    // Certificates live 60 s, so with the default 30-day window a renewal is
    // due two thirds into their life: the renewal job runs within the test.
    let pebble = Pebble::start(port_of(&d.router), 60);
    for (k, v) in [
        ("acme_directory_url", pebble.directory.as_str()),
        ("acme_ca_file", &pebble.ca_file.to_string_lossy()),
        ("acme_email", "ops@example.com"),
    ] {
        d.admin().ok(&["admin", "settings:set", k, v]);
    }
    let app = unique("acme");
    let domain = format!("{}.example.test", unique("shop"));
    d.admin().ok(&["apps:create", &app, "--no-remote"]);
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    d.admin().ok(&["domains:add", "-a", &app, &domain]);
    until("the app on HTTP", || {
        (get_http(&d, &domain, "/").0 == 200).then_some(())
    });

    let out = d
        .cli(&tok)
        .run(&["certs:auto", "-a", &app, &domain, "--wait"]);
    assert_eq!(
        out.code,
        0,
        "{}{}\n--- pebble ---\n{}\n--- daemon ---\n{}",
        out.stdout,
        out.stderr,
        pebble.log(),
        d.log()
    );
    assert!(
        out.stdout.contains(&format!("{domain}: issued")),
        "{}",
        out.stdout
    );
    let certs = d.cli(&tok).json(&["certs", "-a", &app, "--json"]);
    let c = cert_of(&certs, &domain);
    assert_eq!(
        (c["status"].as_str(), c["source"].as_str()),
        (Some("issued"), Some("acme")),
        "{certs}"
    );

    // Served over HTTPS, verified against pebble's root.
    let root = pebble.issuing_root();
    let port = port_of(&d.router_tls);
    let client = https_client(&root, &[&domain], &d.router_tls, false);
    let a = until("HTTPS with the ACME certificate", || {
        get_https(&client, &domain, port, "/").ok()
    });
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("web v1"), "{}", a.body);
    let (st, loc, _) = get_http(&d, &domain, "/");
    assert_eq!(
        (st, loc.as_str()),
        (308, format!("https://{domain}:{port}/").as_str())
    );

    // The renewal job replaces the certificate before it expires, and the
    // router serves the new one without a restart.
    let first = a.peer_cert.clone();
    let renewed = {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let c = https_client(&root, &[&domain], &d.router_tls, false);
            if let Ok(a) = get_https(&c, &domain, port, "/") {
                if a.status == 200 && !a.peer_cert.is_empty() && a.peer_cert != first {
                    break a;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no renewal in 120 s\n--- daemon ---\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    assert_eq!(renewed.status, 200);

    // A hostname pebble cannot reach: the failure is recorded with its
    // reason and a retry time, and the hostname stays on plain HTTP.
    let bad = format!("{}.example.test", unique("unreachable"));
    pebble.resolve(&bad, "127.0.0.9");
    d.admin().ok(&["domains:add", "-a", &app, &bad]);
    let out = d.cli(&tok).run(&["certs:auto", "-a", &app, &bad, "--wait"]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(out.stderr.contains("could not be issued"), "{}", out.stderr);
    let certs = d.cli(&tok).json(&["certs", "-a", &app, "--json"]);
    let c = cert_of(&certs, &bad);
    assert_eq!(c["status"], "error", "{certs}");
    assert!(
        c["error"].as_str().is_some_and(|e| e.contains("127.0.0.9")),
        "the reason names what failed: {certs}"
    );
    assert!(c["retry_at"].as_str().is_some(), "{certs}");
    let (st, _, body) = get_http(&d, &bad, "/");
    assert_eq!(st, 200, "{body}");

    // A bring-your-own certificate is not replaced by ACME.
    let ca = Ca::new("own");
    let (own, own_key) = ca.leaf(&[&bad], false);
    let files = tempfile::tempdir().expect("tempdir");
    let cp = write(files.path(), "c.pem", &own);
    let kp = write(files.path(), "k.pem", &own_key);
    d.cli(&tok).ok(&[
        "certs:add",
        "-a",
        &app,
        &cp.to_string_lossy(),
        &kp.to_string_lossy(),
    ]);
    let err = d.cli(&tok).fails(&["certs:auto", "-a", &app, &bad]);
    assert!(err.contains("has a certificate you added"), "{err}");
    let err = d
        .cli(&tok)
        .fails(&["certs:auto", "-a", &app, "not-mine.example.test"]);
    assert!(err.contains("does not answer at"), "{err}");

    // With acme_enabled, a new domain and panel_domain get certificates by
    // themselves, and the API answers at panel_domain over HTTPS.
    d.admin()
        .ok(&["admin", "settings:set", "panel_domain", "localhost"]);
    d.admin()
        .ok(&["admin", "settings:set", "acme_enabled", "true"]);
    let auto = format!("{}.example.test", unique("auto"));
    d.admin().ok(&["domains:add", "-a", &app, &auto]);
    until("a certificate for the new domain", || {
        let certs = d.cli(&tok).json(&["certs", "-a", &app, "--json"]);
        (cert_of(&certs, &auto)["status"] == "issued").then_some(())
    });
    let panel = https_client(&root, &["localhost"], &d.router_tls, false);
    let a = until("the API at panel_domain over HTTPS", || {
        get_https(&panel, "localhost", port, "/api/health")
            .ok()
            .filter(|a| a.status == 200)
    });
    assert!(a.body.contains("\"status\":\"ok\""), "{}", a.body);
    // Metrics and the hook's internal endpoint are not served through the router.
    for path in ["/metrics", "/internal/git/pre-receive"] {
        let a = get_https(&panel, "localhost", port, path).expect("panel");
        assert_eq!(a.status, 404, "{path}: {}", a.body);
    }
    let (st, loc, _) = get_http(&d, "localhost", "/api/health");
    assert_eq!(
        (st, loc.as_str()),
        (308, format!("https://localhost:{port}/api/health").as_str())
    );
    // `skypanel login --server https://PANEL` and everyday commands through it.
    let root_file = write(files.path(), "pebble-root.pem", &root);
    let home = tempfile::tempdir().expect("home");
    let cli = || {
        let mut c = crate::common::clean_command(home.path());
        c.env("SSL_CERT_FILE", &root_file);
        c
    };
    let server = format!("https://localhost:{port}");
    let out = cli()
        .args(["login", "--server", &server, "--token", &tok])
        .output()
        .expect("login");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli().args(["apps", "--json"]).output().expect("apps");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&app),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
