//! Certificates by ACME (RFC 8555) with instant-acme: HTTP-01 challenges
//! answered by the router itself, one order per hostname, the account kept
//! sealed in the store per directory URL.
//!
//! The worker wakes when asked (`certs:auto`, a new domain with
//! `acme_enabled`, an ACME setting changed) and every ten minutes; each run
//! issues pending hostnames, retries failed ones whose backoff is over, and
//! renews certificates within `acme_renew_days` of expiry. A failure is
//! recorded on the hostname (shown by `certs`) and the app stays on HTTP.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use tokio::sync::{Notify, watch};

use crate::error::{Error, Result};
use crate::store::{self, CertFacts, Store};

/// How often the worker looks for due work without being asked.
const PERIOD: Duration = Duration::from_secs(600);
/// How long one hostname may take, order to certificate.
const ORDER_TIMEOUT: Duration = Duration::from_secs(180);

/// What the router and the API share with the worker.
#[derive(Default)]
pub struct Acme {
    /// HTTP-01 tokens being validated → their key authorizations.
    challenges: RwLock<HashMap<String, String>>,
    pub wake: Notify,
}

impl Acme {
    pub fn new() -> Arc<Acme> {
        Arc::new(Acme::default())
    }

    /// The answer to `GET /.well-known/acme-challenge/TOKEN`, while the token
    /// is being validated.
    pub fn challenge(&self, token: &str) -> Option<String> {
        self.challenges
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }

    fn publish(&self, token: &str, key_authorization: &str) {
        self.challenges
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_string(), key_authorization.to_string());
    }

    fn withdraw(&self, tokens: &[String]) {
        let mut map = self.challenges.write().unwrap_or_else(|p| p.into_inner());
        for t in tokens {
            map.remove(t);
        }
    }
}

/// Tokens published for one order, withdrawn when it ends however it ends.
struct Published<'a> {
    acme: &'a Acme,
    tokens: Vec<String>,
}

impl Drop for Published<'_> {
    fn drop(&mut self) {
        self.acme.withdraw(&self.tokens);
    }
}

struct Config {
    directory: String,
    ca_file: String,
    email: String,
    renew_before_s: i64,
    panel_domain: String,
    enabled: bool,
}

fn config(s: &crate::settings::Snapshot) -> Config {
    Config {
        directory: s.acme_directory_url.clone(),
        ca_file: s.acme_ca_file.clone(),
        email: s.acme_email.clone(),
        renew_before_s: s.acme_renew_days * 86400,
        panel_domain: s.panel_domain.clone(),
        enabled: s.acme_enabled,
    }
}

fn acme_err(e: instant_acme::Error) -> Error {
    Error::Internal(e.to_string())
}

/// The account for `c.directory`: restored from the store, else created
/// (terms agreed, contact from `acme_email`) and saved.
async fn account(store: &Store, c: &Config) -> Result<Account> {
    let builder = || -> Result<instant_acme::AccountBuilder> {
        if c.ca_file.is_empty() {
            Account::builder().map_err(acme_err)
        } else {
            Account::builder_with_root(&c.ca_file).map_err(|e| {
                Error::Internal(format!(
                    "acme_ca_file {} cannot be used ({e}): give a PEM file with the root \
                     certificate of the ACME server",
                    c.ca_file
                ))
            })
        }
    };
    let dir = c.directory.clone();
    if let Some(saved) = store.read(move |db| db.acme_account(&dir)).await? {
        let creds: AccountCredentials = serde_json::from_str(&saved)
            .map_err(|e| Error::Internal(format!("stored ACME account unreadable: {e}")))?;
        return builder()?
            .from_credentials(creds)
            .await
            .map_err(|e| Error::Internal(format!("ACME server {}: {e}", c.directory)));
    }
    let contact = (!c.email.is_empty()).then(|| format!("mailto:{}", c.email));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, creds) = builder()?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            c.directory.clone(),
            None,
        )
        .await
        .map_err(|e| {
            Error::Internal(format!(
                "cannot register with the ACME server {}: {e}",
                c.directory
            ))
        })?;
    let text =
        serde_json::to_string(&creds).map_err(|e| Error::Internal(format!("ACME account: {e}")))?;
    let dir = c.directory.clone();
    store
        .write(move |db| db.put_acme_account(&dir, &text, store::now()))
        .await?;
    tracing::info!(directory = %c.directory, "ACME account registered");
    Ok(account)
}

/// Orders a certificate for `host`, answering its HTTP-01 challenge.
/// Returns (chain PEM, key PEM).
async fn order(acme: &Acme, account: &Account, host: &str) -> Result<(String, String)> {
    let ids = [Identifier::Dns(host.to_string())];
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .map_err(|e| Error::Internal(format!("the ACME server refused the order: {e}")))?;
    let mut published = Published {
        acme,
        tokens: Vec::new(),
    };
    {
        let mut authzs = order.authorizations();
        while let Some(a) = authzs.next().await {
            let mut a = a.map_err(acme_err)?;
            match a.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(Error::Internal(format!(
                        "the authorization for {host} is {other:?}"
                    )));
                }
            }
            let mut ch = a.challenge(ChallengeType::Http01).ok_or_else(|| {
                Error::Internal("the ACME server offers no http-01 challenge".into())
            })?;
            acme.publish(&ch.token, ch.key_authorization().as_str());
            published.tokens.push(ch.token.clone());
            ch.set_ready().await.map_err(acme_err)?;
        }
    }
    let retry = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .backoff(1.5)
        .timeout(Duration::from_secs(90));
    let status = order.poll_ready(&retry).await.map_err(acme_err)?;
    if status != OrderStatus::Ready {
        return Err(Error::Internal(why_invalid(&mut order).await));
    }
    drop(published);
    let key_pem = order.finalize().await.map_err(acme_err)?;
    let chain = order.poll_certificate(&retry).await.map_err(acme_err)?;
    Ok((chain, key_pem))
}

/// The challenge errors of an order that went invalid.
async fn why_invalid(order: &mut instant_acme::Order) -> String {
    let mut reasons = Vec::new();
    let mut authzs = order.authorizations();
    while let Some(Ok(a)) = authzs.next().await {
        for c in &a.challenges {
            if let Some(p) = &c.error {
                reasons.push(p.detail.clone().unwrap_or_else(|| p.to_string()));
            }
        }
    }
    if reasons.is_empty() {
        "the ACME server did not validate the domain".to_string()
    } else {
        format!("validation failed: {}", reasons.join("; "))
    }
}

/// Issues (or renews) `host` and stores the result; on failure records why.
async fn issue(acme: &Acme, store: &Store, c: &Config, work: &store::AcmeWork) -> Result<()> {
    let host = work.hostname.clone();
    let got = tokio::time::timeout(ORDER_TIMEOUT, async {
        let account = account(store, c).await?;
        order(acme, &account, &host).await
    })
    .await
    .unwrap_or_else(|_| {
        Err(Error::Internal(format!(
            "the ACME order took longer than {} s",
            ORDER_TIMEOUT.as_secs()
        )))
    })
    .and_then(|(chain, key)| {
        let parsed = crate::tls::parse(&chain, &key)?;
        Ok((chain, key, parsed))
    });
    let stored = match got {
        Ok((chain, key, parsed)) => {
            let app = work.app.clone();
            store
                .write(move |db| {
                    let app = match app.as_str() {
                        "" => None,
                        name => Some(
                            db.app_by_name(name)?
                                .ok_or_else(|| Error::NotFound(format!("app {name} is gone")))?,
                        ),
                    };
                    db.put_cert(
                        app.as_ref(),
                        &host,
                        "acme",
                        &CertFacts {
                            chain_pem: &chain,
                            key_pem: &key,
                            not_before: parsed.not_before,
                            not_after: parsed.not_after,
                            issuer: &parsed.issuer,
                            serial: &parsed.serial,
                        },
                        store::now(),
                    )
                })
                .await
        }
        Err(e) => Err(e),
    };
    match stored {
        Ok(()) => {
            tracing::info!(host = %work.hostname, renewal = work.renewal, "certificate issued by ACME");
            Ok(())
        }
        Err(e) => {
            // Recorded with a backoff, so a failing hostname is not retried at once.
            let reason = e.to_string();
            tracing::warn!(host = %work.hostname, error = %reason, "ACME certificate failed");
            let h = work.hostname.clone();
            store
                .write(move |db| db.acme_failed(&h, &reason, store::now()))
                .await?;
            Err(e)
        }
    }
}

/// One pass: the panel's hostname queued when due, then every due hostname.
/// Returns how many certificates changed.
pub async fn run_once(acme: &Acme, store: &Store, s: &crate::settings::Snapshot) -> Result<usize> {
    let c = config(s);
    if c.enabled && !c.panel_domain.is_empty() {
        let panel = c.panel_domain.clone();
        store
            .write(move |db| {
                if db.cert(&panel)?.is_none() {
                    db.request_acme(None, &[panel], store::now())?;
                }
                Ok(())
            })
            .await?;
    }
    let renew = c.renew_before_s;
    let due = store
        .read(move |db| db.acme_due(store::now(), renew))
        .await?;
    let mut changed = 0;
    for work in &due {
        if issue(acme, store, &c, work).await.is_ok() {
            changed += 1;
        }
    }
    Ok(changed)
}

/// How long to sleep: until the next hostname falls due, at most `PERIOD`.
async fn idle_for(store: &Store, s: &crate::settings::Snapshot) -> Duration {
    let renew = s.acme_renew_days * 86400;
    match store.read(move |db| db.acme_next_due(renew)).await {
        Ok(Some(at)) => {
            let wait = (at - store::now()).max(1) as u64;
            PERIOD.min(Duration::from_secs(wait))
        }
        _ => PERIOD,
    }
}

/// The worker: runs until `stop`; tells the router when a certificate changed.
pub async fn run(
    acme: Arc<Acme>,
    store: Store,
    routes_changed: Arc<tokio::sync::Notify>,
    settings: crate::settings::Current,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let s = settings.get();
        match run_once(&acme, &store, &s).await {
            Ok(0) => {}
            Ok(_) => routes_changed.notify_one(),
            Err(e) => tracing::warn!(error = %e, "ACME run failed"),
        }
        let idle = idle_for(&store, &s).await;
        tokio::select! {
            _ = acme.wake.notified() => {}
            _ = tokio::time::sleep(idle) => {}
            _ = stop.changed() => return,
        }
    }
}
