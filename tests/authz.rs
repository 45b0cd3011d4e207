//! The authorization matrix: every route × {no token, bad token, stranger
//! (another org), member, owner, admin}. A stranger gets exactly the answer an
//! unknown name gets, never 403 and never data.

use serde_json::{Value, json};

use crate::common::{Daemon, unique};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    NoToken,
    BadToken,
    Stranger,
    Member,
    Owner,
    Admin,
}

const EVERYONE: [Who; 6] = [
    Who::NoToken,
    Who::BadToken,
    Who::Stranger,
    Who::Member,
    Who::Owner,
    Who::Admin,
];

/// Who may do what, by route class.
#[derive(Clone, Copy, Debug)]
enum Class {
    Public,
    /// Any signed-in user, about themselves.
    SelfService,
    /// Members of the org (and admins) see it; strangers get 404.
    OrgRead,
    /// Owners (and admins) act; members get 403; strangers 404.
    OrgOwner,
    /// Members of the app's org (and admins); strangers 404.
    App,
    /// Like App, for an act with nothing to act on: members get 409.
    AppIdle,
    AdminOnly,
    /// Admin routes that would change the shared Swarm node: tried on a node
    /// that does not exist, so the admin gets 404 and everyone else 403.
    AdminNotFound,
}

fn expected(class: Class, who: Who) -> u16 {
    use Class::*;
    use Who::*;
    match (class, who) {
        (Public, _) => 200,
        (_, NoToken | BadToken) => 401,
        (SelfService, _) => 200,
        (OrgRead | App | AppIdle, Stranger) => 404,
        (AppIdle, _) => 409,
        (OrgRead | App, _) => 200,
        (OrgOwner, Stranger) => 404,
        (OrgOwner, Member) => 403,
        (OrgOwner, _) => 200,
        (AdminOnly, Admin) => 200,
        (AdminOnly, _) => 403,
        (AdminNotFound, Admin) => 404,
        (AdminNotFound, _) => 403,
    }
}

struct World {
    d: Daemon,
    /// The hostname of the Swarm node.
    node: String,
    tokens: Vec<(Who, Option<String>)>,
    org: String,
    app: String,
}

impl World {
    fn token(&self, who: Who) -> Option<String> {
        self.tokens
            .iter()
            .find(|(w, _)| *w == who)
            .and_then(|(_, t)| t.clone())
    }
    fn as_admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (st, v) = self
            .d
            .http(Some(&self.d.admin_token))
            .send(method, path, body);
        assert!((200..300).contains(&st), "setup {method} {path}: {st} {v}");
        v
    }
    fn as_owner(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (st, v) = self
            .d
            .http(self.token(Who::Owner).as_deref())
            .send(method, path, body);
        assert!((200..300).contains(&st), "setup {method} {path}: {st} {v}");
        v
    }
}

fn world() -> World {
    let d = Daemon::start();
    let (olive, mia, oscar) = (
        unique("olive") + "@example.com",
        unique("mia") + "@example.com",
        unique("oscar") + "@example.com",
    );
    let owner = d.user(&olive, false);
    let member = d.user(&mia, false);
    let stranger = d.user(&oscar, false);
    let org = unique("acme");
    let w = World {
        tokens: vec![
            (Who::NoToken, None),
            (Who::BadToken, Some(format!("skp_{}", "0".repeat(64)))),
            (Who::Stranger, Some(stranger)),
            (Who::Member, Some(member)),
            (Who::Owner, Some(owner)),
            (Who::Admin, Some(d.admin_token.clone())),
        ],
        org: org.clone(),
        app: unique("shop"),
        node: String::new(),
        d,
    };
    let mut w = w;
    w.node = w.as_admin("GET", "/api/v1/admin/nodes", None)[0]["hostname"]
        .as_str()
        .expect("a node")
        .to_string();
    w.as_admin(
        "PUT",
        "/api/v1/admin/settings/max_apps_per_org",
        Some(json!({"value": "0"})),
    );
    // ACME attempts the matrix causes go nowhere (not to Let's Encrypt).
    w.as_admin(
        "PUT",
        "/api/v1/admin/settings/acme_directory_url",
        Some(json!({"value": "https://127.0.0.1:9/directory"})),
    );
    w.as_owner("POST", "/api/v1/orgs", Some(json!({"name": org})));
    w.as_owner(
        "POST",
        &format!("/api/v1/orgs/{}/members", w.org),
        Some(json!({"email": mia, "role": "member"})),
    );
    let other = unique("other");
    let (st, _) = w.d.http(w.token(Who::Stranger).as_deref()).send(
        "POST",
        "/api/v1/orgs",
        Some(json!({"name": other})),
    );
    assert_eq!(st, 201);
    w.as_owner(
        "POST",
        "/api/v1/apps",
        Some(json!({"name": w.app, "org": w.org})),
    );
    // Two releases, so a rollback has somewhere to go.
    crate::common::ensure_images();
    let owner = w.token(Who::Owner).expect("owner token");
    for _ in 0..2 {
        w.d.cli(&owner)
            .ok(&["deploy", "-a", &w.app, "--image", "skypanel-test/web:1"]);
    }
    // And a build, so its output can be read.
    let repo = crate::push::Repo::new(&[("Dockerfile", "FROM skypanel-test/web:1\n")]);
    w.d.cli(&owner)
        .cwd(repo.path())
        .ok(&["git:remote", "-a", &w.app]);
    repo.push_ok(&w.d, &owner);
    w
}

/// The body of `certs:add`: a self-signed certificate for `host` and its key.
fn own_cert(host: &str) -> Value {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![host.to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    json!({"certificate": cert.pem(), "private_key": key.serialize_pem()})
}

/// Builds the request for one route and caller; may create what it acts on.
fn request(w: &World, route: &str, method: &str, who: Who) -> (String, Option<Value>, Class) {
    let org = &w.org;
    let app = &w.app;
    match (method, route) {
        ("GET", "/api/health") => ("/api/health".into(), None, Class::Public),
        ("GET", "/metrics") => ("/metrics".into(), None, Class::Public),
        ("GET", "/api/v1/whoami") => (route.into(), None, Class::SelfService),
        ("GET", "/api/v1/tokens") => (route.into(), None, Class::SelfService),
        ("POST", "/api/v1/tokens") => (
            route.into(),
            Some(json!({"name": "matrix"})),
            Class::SelfService,
        ),
        ("DELETE", "/api/v1/tokens/{id}") => {
            // Each caller revokes a token of its own.
            let id = match w.token(who) {
                Some(t) if who != Who::BadToken => {
                    let (st, v) = w.d.http(Some(&t)).send(
                        "POST",
                        "/api/v1/tokens",
                        Some(json!({"name": "to-revoke"})),
                    );
                    assert_eq!(st, 201);
                    v["token"]["id"].as_i64().expect("id")
                }
                _ => 1,
            };
            (format!("/api/v1/tokens/{id}"), None, Class::SelfService)
        }
        ("GET", "/api/v1/orgs") => (route.into(), None, Class::SelfService),
        ("POST", "/api/v1/orgs") => (
            route.into(),
            Some(json!({"name": unique("neworg")})),
            Class::SelfService,
        ),
        ("GET", "/api/v1/orgs/{org}/members") => {
            (format!("/api/v1/orgs/{org}/members"), None, Class::OrgRead)
        }
        ("POST", "/api/v1/orgs/{org}/members") => {
            let email = unique("joiner") + "@example.com";
            w.d.user(&email, false);
            (
                format!("/api/v1/orgs/{org}/members"),
                Some(json!({"email": email, "role": "member"})),
                Class::OrgOwner,
            )
        }
        ("DELETE", "/api/v1/orgs/{org}/members/{email}") => {
            let email = unique("leaver") + "@example.com";
            w.d.user(&email, false);
            w.as_owner(
                "POST",
                &format!("/api/v1/orgs/{org}/members"),
                Some(json!({"email": email, "role": "member"})),
            );
            (
                format!("/api/v1/orgs/{org}/members/{email}"),
                None,
                Class::OrgOwner,
            )
        }
        ("GET", "/api/v1/orgs/{org}/webhooks") => (
            format!("/api/v1/orgs/{org}/webhooks"),
            None,
            Class::OrgOwner,
        ),
        ("POST", "/api/v1/orgs/{org}/webhooks") => (
            format!("/api/v1/orgs/{org}/webhooks"),
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": "deploy"})),
            Class::OrgOwner,
        ),
        ("DELETE", "/api/v1/orgs/{org}/webhooks/{id}") => {
            let v = w.as_owner(
                "POST",
                &format!("/api/v1/orgs/{org}/webhooks"),
                Some(json!({"url": "http://127.0.0.1:9/gone"})),
            );
            let id = v["webhook"]["id"].as_i64().expect("webhook id");
            (
                format!("/api/v1/orgs/{org}/webhooks/{id}"),
                None,
                Class::OrgOwner,
            )
        }
        ("GET", "/api/v1/orgs/{org}/billing") => {
            (format!("/api/v1/orgs/{org}/billing"), None, Class::OrgRead)
        }
        ("GET", "/api/v1/orgs/{org}/billing/transactions") => (
            format!("/api/v1/orgs/{org}/billing/transactions"),
            None,
            Class::OrgRead,
        ),
        ("GET", "/api/v1/orgs/{org}/billing/usage")
        | ("GET", "/api/v1/orgs/{org}/billing/statement") => {
            (route.replace("{org}", org), None, Class::OrgRead)
        }
        ("POST", "/api/v1/admin/billing/run") => (route.into(), Some(json!({})), Class::AdminOnly),
        ("POST", "/api/v1/admin/orgs/{org}/credits")
        | ("POST", "/api/v1/admin/orgs/{org}/debits") => (
            route.replace("{org}", org),
            Some(json!({"amount": "1.00", "note": "authz"})),
            Class::AdminOnly,
        ),
        ("GET", "/api/v1/apps") => (route.into(), None, Class::SelfService),
        ("POST", "/api/v1/apps") => (
            route.into(),
            Some(json!({"name": unique("app"), "org": org})),
            Class::App,
        ),
        ("GET", "/api/v1/apps/{app}") => (format!("/api/v1/apps/{app}"), None, Class::App),
        ("DELETE", "/api/v1/apps/{app}") => {
            let victim = unique("doomed");
            w.as_owner(
                "POST",
                "/api/v1/apps",
                Some(json!({"name": victim, "org": org})),
            );
            (format!("/api/v1/apps/{victim}"), None, Class::App)
        }
        ("GET", "/api/v1/apps/{app}/config") => {
            (format!("/api/v1/apps/{app}/config"), None, Class::App)
        }
        ("PATCH", "/api/v1/apps/{app}/config") => (
            format!("/api/v1/apps/{app}/config"),
            Some(json!({"MATRIX": "1"})),
            Class::App,
        ),
        ("GET", "/api/v1/apps/{app}/releases") => {
            (format!("/api/v1/apps/{app}/releases"), None, Class::App)
        }
        ("POST", "/api/v1/apps/{app}/releases") => (
            format!("/api/v1/apps/{app}/releases"),
            Some(json!({"image": "skypanel-test/web:1"})),
            Class::App,
        ),
        ("GET", "/api/v1/apps/{app}/releases/{version}") => {
            (format!("/api/v1/apps/{app}/releases/v1"), None, Class::App)
        }
        ("POST", "/api/v1/apps/{app}/rollback") => (
            format!("/api/v1/apps/{app}/rollback"),
            Some(json!({})),
            Class::App,
        ),
        ("GET", "/api/v1/apps/{app}/ps") => (format!("/api/v1/apps/{app}/ps"), None, Class::App),
        ("PATCH", "/api/v1/apps/{app}/formation") => (
            format!("/api/v1/apps/{app}/formation"),
            Some(json!({"web": 1})),
            Class::App,
        ),
        ("POST", "/api/v1/apps/{app}/restart") => (
            format!("/api/v1/apps/{app}/restart"),
            Some(json!({})),
            Class::App,
        ),
        ("POST", "/api/v1/apps/{app}/stop") => {
            (format!("/api/v1/apps/{app}/stop"), None, Class::App)
        }
        ("POST", "/api/v1/apps/{app}/start") => {
            (format!("/api/v1/apps/{app}/start"), None, Class::App)
        }
        ("GET", "/api/v1/apps/{app}/checks") => {
            (format!("/api/v1/apps/{app}/checks"), None, Class::App)
        }
        ("PUT", "/api/v1/apps/{app}/checks") => (
            format!("/api/v1/apps/{app}/checks"),
            Some(json!({"attempts": 5})),
            Class::App,
        ),
        ("GET", "/api/v1/apps/{app}/builds") => {
            (format!("/api/v1/apps/{app}/builds"), None, Class::App)
        }
        ("GET", "/api/v1/apps/{app}/builds/{build}/output") => (
            format!("/api/v1/apps/{app}/builds/1/output"),
            None,
            Class::App,
        ),
        ("POST", "/api/v1/apps/{app}/builds/cancel") => (
            format!("/api/v1/apps/{app}/builds/cancel"),
            None,
            Class::AppIdle,
        ),
        ("GET", "/api/v1/apps/{app}/build-settings") => (
            format!("/api/v1/apps/{app}/build-settings"),
            None,
            Class::App,
        ),
        ("PATCH", "/api/v1/apps/{app}/build-settings") => (
            format!("/api/v1/apps/{app}/build-settings"),
            Some(json!({"builder": "auto"})),
            Class::App,
        ),
        ("DELETE", "/api/v1/apps/{app}/build-cache") => {
            (format!("/api/v1/apps/{app}/build-cache"), None, Class::App)
        }
        ("GET", "/api/v1/apps/{app}/domains") => {
            (format!("/api/v1/apps/{app}/domains"), None, Class::App)
        }
        ("POST", "/api/v1/apps/{app}/domains") => (
            format!("/api/v1/apps/{app}/domains"),
            Some(json!({"hostname": format!("{}.example.com", unique("matrix"))})),
            Class::App,
        ),
        ("DELETE", "/api/v1/apps/{app}/domains/{domain}") => {
            let domain = format!("{}.example.com", unique("gone"));
            w.as_owner(
                "POST",
                &format!("/api/v1/apps/{app}/domains"),
                Some(json!({"hostname": domain})),
            );
            (
                format!("/api/v1/apps/{app}/domains/{domain}"),
                None,
                Class::App,
            )
        }
        ("GET", "/api/v1/apps/{app}/certs") => {
            (format!("/api/v1/apps/{app}/certs"), None, Class::App)
        }
        ("POST", "/api/v1/apps/{app}/certs") => (
            format!("/api/v1/apps/{app}/certs"),
            Some(own_cert(&format!("{app}.localhost"))),
            Class::App,
        ),
        ("POST", "/api/v1/apps/{app}/certs/auto") => {
            let domain = format!("{}.example.com", unique("auto"));
            w.as_owner(
                "POST",
                &format!("/api/v1/apps/{app}/domains"),
                Some(json!({"hostname": domain})),
            );
            (
                format!("/api/v1/apps/{app}/certs/auto"),
                Some(json!({"hostname": domain})),
                Class::App,
            )
        }
        ("DELETE", "/api/v1/apps/{app}/certs/{hostname}") => {
            let host = format!("{app}.localhost");
            w.as_owner(
                "POST",
                &format!("/api/v1/apps/{app}/certs"),
                Some(own_cert(&host)),
            );
            (format!("/api/v1/apps/{app}/certs/{host}"), None, Class::App)
        }
        ("PUT", "/api/v1/apps/{app}/https-redirect") => (
            format!("/api/v1/apps/{app}/https-redirect"),
            Some(json!({"enabled": true})),
            Class::App,
        ),
        ("GET", "/api/v1/apps/{app}/checks/history") => (
            format!("/api/v1/apps/{app}/checks/history"),
            None,
            Class::App,
        ),
        ("GET", "/api/v1/apps/{app}/stats") => {
            (format!("/api/v1/apps/{app}/stats"), None, Class::App)
        }
        ("GET", "/api/v1/apps/{app}/logs") => {
            (format!("/api/v1/apps/{app}/logs"), None, Class::App)
        }
        ("GET", "/api/v1/apps/{app}/maintenance") => {
            (format!("/api/v1/apps/{app}/maintenance"), None, Class::App)
        }
        ("PUT", "/api/v1/apps/{app}/maintenance") => (
            format!("/api/v1/apps/{app}/maintenance"),
            Some(json!({"enabled": false})),
            Class::App,
        ),
        ("GET", "/api/v1/plans") => (route.into(), None, Class::SelfService),
        ("GET", "/api/v1/admin/users") => (route.into(), None, Class::AdminOnly),
        ("POST", "/api/v1/admin/users") => (
            route.into(),
            Some(json!({"email": unique("new") + "@example.com"})),
            Class::AdminOnly,
        ),
        ("POST", "/api/v1/admin/plans") => (
            route.into(),
            Some(
                json!({"name": unique("plan"), "cpu": "0.5", "memory": "512M", "max_replicas": 2, "price_hourly": "0.01"}),
            ),
            Class::AdminOnly,
        ),
        ("PATCH", "/api/v1/admin/plans/{plan}") | ("DELETE", "/api/v1/admin/plans/{plan}") => {
            let p = unique("plan");
            w.as_admin(
                "POST",
                "/api/v1/admin/plans",
                Some(json!({"name": p, "cpu": "1", "memory": "1G", "max_replicas": 1, "price_hourly": "0"})),
            );
            let body = (method == "PATCH").then(|| json!({"max_replicas": 3}));
            (format!("/api/v1/admin/plans/{p}"), body, Class::AdminOnly)
        }
        ("GET", "/api/v1/admin/orgs") => (route.into(), None, Class::AdminOnly),
        ("GET", "/api/v1/admin/nodes") => (route.into(), None, Class::AdminOnly),
        ("GET", "/api/v1/admin/nodes/{node}") => (
            format!("/api/v1/admin/nodes/{}", w.node),
            None,
            Class::AdminOnly,
        ),
        ("POST", "/api/v1/admin/nodes/{node}/drain") => (
            "/api/v1/admin/nodes/no-such-node/drain".into(),
            None,
            Class::AdminNotFound,
        ),
        ("POST", "/api/v1/admin/nodes/{node}/activate") => (
            "/api/v1/admin/nodes/no-such-node/activate".into(),
            None,
            Class::AdminNotFound,
        ),
        ("DELETE", "/api/v1/admin/nodes/{node}") => (
            "/api/v1/admin/nodes/no-such-node".into(),
            None,
            Class::AdminNotFound,
        ),
        ("GET", "/api/v1/admin/join-command") => (route.into(), None, Class::AdminOnly),
        ("GET", "/api/v1/admin/events") => (route.into(), None, Class::AdminOnly),
        ("POST", "/api/v1/admin/reconcile") => (route.into(), None, Class::AdminOnly),
        ("GET", "/api/v1/admin/settings") => (route.into(), None, Class::AdminOnly),
        ("GET", "/api/v1/admin/settings/{key}") => (
            "/api/v1/admin/settings/default_domain".into(),
            None,
            Class::AdminOnly,
        ),
        ("PUT", "/api/v1/admin/settings/{key}") => (
            "/api/v1/admin/settings/loki_retention_days".into(),
            Some(json!({"value": "9"})),
            Class::AdminOnly,
        ),
        ("DELETE", "/api/v1/admin/settings/{key}") => (
            "/api/v1/admin/settings/loki_retention_days".into(),
            None,
            Class::AdminOnly,
        ),
        other => panic!("route {other:?} has no row in the authorization matrix: add one"),
    }
}

#[test]
fn every_route_for_every_caller() {
    let w = world();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, route) in skypanel::daemon::ROUTES {
        for who in EVERYONE {
            let (path, body, class) = request(&w, route, method, who);
            let (st, v) = w.d.http(w.token(who).as_deref()).send(method, &path, body);
            let want = expected(class, who);
            let ok = if want == 200 {
                (200..300).contains(&st)
            } else {
                st == want
            };
            if !ok {
                failures.push(format!(
                    "{method} {route} as {who:?}: got {st}, want {want}: {v}"
                ));
            }
            if st >= 400
                && v.get("error")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                failures.push(format!(
                    "{method} {route} as {who:?}: error without a message: {v}"
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, skypanel::daemon::ROUTES.len() * EVERYONE.len());
}

#[test]
fn strangers_cannot_tell_an_app_exists() {
    let w = world();
    let stranger = w.d.http(w.token(Who::Stranger).as_deref());
    let ghost = unique("ghost");
    for (method, suffix, body) in [
        ("GET", "", None),
        ("DELETE", "", None),
        ("GET", "/config", None),
        ("PATCH", "/config", Some(json!({"A": "1"}))),
    ] {
        let (st_real, real) = stranger.send(
            method,
            &format!("/api/v1/apps/{}{suffix}", w.app),
            body.clone(),
        );
        let (st_ghost, none) =
            stranger.send(method, &format!("/api/v1/apps/{ghost}{suffix}"), body);
        assert_eq!((st_real, st_ghost), (404, 404), "{method} {suffix}");
        let real_msg = real["error"].as_str().expect("msg").replace(&w.app, "NAME");
        let ghost_msg = none["error"].as_str().expect("msg").replace(&ghost, "NAME");
        assert_eq!(real_msg, ghost_msg, "the answers must not differ");
    }
    // Nothing leaked into the stranger's listings, and nothing changed.
    let apps = stranger.get("/api/v1/apps");
    assert!(!apps.to_string().contains(&w.app), "{apps}");
    let (st, _) = stranger.send("GET", &format!("/api/v1/apps?org={}", w.org), None);
    assert_eq!(st, 404);
    let (st, _) = stranger.send(
        "POST",
        "/api/v1/apps",
        Some(json!({"name": unique("sneak"), "org": w.org})),
    );
    assert_eq!(st, 404);
    let cfg =
        w.d.http(w.token(Who::Owner).as_deref())
            .get(&format!("/api/v1/apps/{}/config", w.app));
    assert_eq!(cfg, json!({}), "the stranger's PATCH must not have landed");
    // A stranger cannot revoke someone else's token either.
    let (st, _) = stranger.send("DELETE", "/api/v1/tokens/1", None);
    assert_eq!(st, 404);
    let (st, me) =
        w.d.http(Some(&w.d.admin_token))
            .send("GET", "/api/v1/whoami", None);
    assert_eq!(
        (st, me["email"].as_str()),
        (200, Some("admin@localhost")),
        "the admin's token still works"
    );
}
