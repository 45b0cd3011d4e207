//! TLS certificates per hostname (bring-your-own and ACME), the ACME
//! accounts, and the per-app HTTPS redirect switch. Certificate chains,
//! private keys and ACME credentials are sealed.

use rusqlite::{OptionalExtension, params};

use super::{App, Db};
pub use crate::api::CertStatus;
use crate::error::{Error, Result};

/// One hostname's certificate row.
#[derive(Clone, Debug)]
pub struct Cert {
    pub hostname: String,
    /// The app, or "" for the certificate of `panel_domain`.
    pub app: String,
    /// `acme` or `manual`.
    pub source: String,
    /// Pending, issued or error (never `None`: that is no row).
    pub status: CertStatus,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub issuer: Option<String>,
    pub serial: Option<String>,
    /// The last failure (for an issued ACME cert: of its renewal).
    pub error: Option<String>,
    pub next_attempt: i64,
    pub updated_at: i64,
}

/// What a new or renewed certificate is (from `tls::Parsed`).
pub struct CertFacts<'a> {
    pub chain_pem: &'a str,
    pub key_pem: &'a str,
    pub not_before: i64,
    pub not_after: i64,
    pub issuer: &'a str,
    pub serial: &'a str,
}

/// A hostname the ACME worker has to (re)issue.
#[derive(Clone, Debug)]
pub struct AcmeWork {
    pub hostname: String,
    pub app: String,
    /// True when an issued certificate is being renewed.
    pub renewal: bool,
    pub attempts: i64,
}

/// What decides when an ACME hostname is due.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcmeClock {
    pub issued: bool,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    /// The backoff after a failure.
    pub next_attempt: i64,
    /// `certs:auto` asked again for an issued certificate.
    pub renew_now: bool,
}

impl AcmeClock {
    /// When the hostname is due: a pending or failed one when its backoff is
    /// over; an issued one `renew_before_s` before it expires, but never
    /// before two thirds of its lifetime (so a window longer than a short
    /// certificate's life does not renew it over and over), or at once after
    /// `certs:auto`. A backoff always applies.
    pub fn due_at(&self, renew_before_s: i64) -> i64 {
        let at = match (self.issued, self.not_before, self.not_after) {
            (true, _, _) if self.renew_now => 0,
            (true, Some(nb), Some(na)) => {
                (na.saturating_sub(renew_before_s)).max(nb + (na - nb).max(0) * 2 / 3)
            }
            (true, _, _) => 0,
            (false, _, _) => 0,
        };
        at.max(self.next_attempt)
    }
}

const COLS: &str =
    "c.hostname, COALESCE(a.name, ''), c.source, c.status, c.not_before, c.not_after, c.issuer,
                    c.serial, c.error, c.next_attempt, c.updated_at";

fn row(r: &rusqlite::Row) -> rusqlite::Result<Cert> {
    Ok(Cert {
        hostname: r.get(0)?,
        app: r.get(1)?,
        source: r.get(2)?,
        status: super::status_col(r, 3, CertStatus::parse)?,
        not_before: r.get(4)?,
        not_after: r.get(5)?,
        issuer: r.get(6)?,
        serial: r.get(7)?,
        error: r.get(8)?,
        next_attempt: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

/// A fresh certificate version: the time in nanoseconds, so a certificate
/// removed and added again within one router refresh still reads as new.
fn version() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default()
}

fn chain_context(hostname: &str) -> String {
    format!("cert-chain:{hostname}")
}

fn key_context(hostname: &str) -> String {
    format!("cert:{hostname}")
}

/// Wait before the next ACME attempt after `attempts` failures in a row:
/// 1 h, 2 h, 4 h … at most 24 h (Let's Encrypt allows 5 failed validations
/// per hostname per hour, so retrying sooner only burns the allowance).
pub fn acme_backoff(attempts: i64) -> i64 {
    let hours = 1i64 << attempts.clamp(1, 6).saturating_sub(1);
    hours.min(24) * 3600
}

impl Db<'_> {
    /// Every hostname `app` answers at: its default one, then its custom domains.
    pub fn app_hostnames(&self, app: &App) -> Result<Vec<String>> {
        let mut hosts = vec![format!("{}.{}", app.name, self.setting("default_domain")?)];
        hosts.extend(self.domains(app)?.into_iter().map(|d| d.hostname));
        Ok(hosts)
    }

    pub fn certs(&self, app: &App) -> Result<Vec<Cert>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLS} FROM certs c LEFT JOIN apps a ON a.id = c.app_id
             WHERE c.app_id = ?1 ORDER BY c.hostname"
        ))?;
        let rows = st
            .query_map([app.id], row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn cert(&self, hostname: &str) -> Result<Option<Cert>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLS} FROM certs c LEFT JOIN apps a ON a.id = c.app_id WHERE c.hostname = ?1"
                ),
                [hostname],
                row,
            )
            .optional()?)
    }

    /// Stores a certificate for `hostname` of `app` (None: the panel),
    /// issued, replacing what was there. `source` is `manual` or `acme`.
    pub fn put_cert(
        &self,
        app: Option<&App>,
        hostname: &str,
        source: &str,
        facts: &CertFacts,
        now: i64,
    ) -> Result<()> {
        let sealed = self
            .cipher
            .seal(&key_context(hostname), facts.key_pem.as_bytes())?;
        let chain = self
            .cipher
            .seal(&chain_context(hostname), facts.chain_pem.as_bytes())?;
        self.conn.execute(
            "INSERT INTO certs (app_id, hostname, source, status, chain_sealed, key_sealed, not_before,
                                not_after, issuer, serial, error, next_attempt, attempts, version,
                                updated_at)
             VALUES (?1, ?2, ?3, 'issued', ?4, ?5, ?6, ?7, ?8, ?9, NULL, 0, 0, ?11, ?10)
             ON CONFLICT (hostname) DO UPDATE SET
                app_id = ?1, source = ?3, status = 'issued', chain_sealed = ?4, key_sealed = ?5,
                not_before = ?6, not_after = ?7, issuer = ?8, serial = ?9, error = NULL,
                next_attempt = 0, attempts = 0, renew_now = 0, version = ?11, updated_at = ?10",
            params![
                app.map(|a| a.id),
                hostname,
                source,
                chain,
                sealed,
                facts.not_before,
                facts.not_after,
                facts.issuer,
                facts.serial,
                now,
                version()
            ],
        )?;
        Ok(())
    }

    /// Queues ACME issuance for those of `hosts` that have no certificate, a
    /// failed one, or an ACME one (which is then renewed now). Hostnames with
    /// a bring-your-own certificate are left alone. Returns the queued ones.
    pub fn request_acme(
        &self,
        app: Option<&App>,
        hosts: &[String],
        now: i64,
    ) -> Result<Vec<String>> {
        let mut queued = Vec::new();
        for h in hosts {
            let existing = self.cert(h)?;
            match existing {
                Some(c) if c.source == "manual" && c.status == CertStatus::Issued => continue,
                Some(c) if c.status == CertStatus::Issued => {
                    // Renew now, serving the current certificate until then.
                    self.conn.execute(
                        "UPDATE certs SET next_attempt = 0, attempts = 0, renew_now = 1
                         WHERE hostname = ?1",
                        [c.hostname.as_str()],
                    )?;
                }
                _ => {
                    self.conn.execute(
                        "INSERT INTO certs (app_id, hostname, source, status, next_attempt, attempts,
                                            updated_at)
                         VALUES (?1, ?2, 'acme', 'pending', 0, 0, ?3)
                         ON CONFLICT (hostname) DO UPDATE SET app_id = ?1, source = 'acme',
                            status = 'pending', chain_sealed = NULL, key_sealed = NULL,
                            not_before = NULL, not_after = NULL, issuer = NULL, serial = NULL,
                            error = NULL, next_attempt = 0, attempts = 0, updated_at = ?3",
                        params![app.map(|a| a.id), h, now],
                    )?;
                }
            }
            queued.push(h.clone());
        }
        Ok(queued)
    }

    pub fn remove_cert(&self, app: &App, hostname: &str) -> Result<()> {
        let n = self.conn.execute(
            "DELETE FROM certs WHERE app_id = ?1 AND hostname = ?2",
            params![app.id, hostname],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!(
                "{} has no certificate for \"{}\": run `skypanel certs -a {}`",
                app.name,
                crate::validate::printable(hostname),
                app.name
            )));
        }
        Ok(())
    }

    /// Drops the certificate rows of hostnames `app` no longer answers at
    /// (a removed domain, a changed `default_domain`).
    pub fn forget_stray_certs(&self, app: &App) -> Result<usize> {
        let hosts = self.app_hostnames(app)?;
        let mut gone = 0;
        for c in self.certs(app)? {
            if !hosts.contains(&c.hostname) {
                gone += self.conn.execute(
                    "DELETE FROM certs WHERE hostname = ?1",
                    [c.hostname.as_str()],
                )?;
            }
        }
        Ok(gone)
    }

    /// Every ACME hostname with what decides when it is due.
    fn acme_rows(&self) -> Result<Vec<(AcmeWork, AcmeClock)>> {
        let mut st = self.conn.prepare(
            "SELECT c.hostname, COALESCE(a.name, ''), c.status, c.attempts, c.not_before,
                    c.not_after, c.next_attempt, c.renew_now
             FROM certs c LEFT JOIN apps a ON a.id = c.app_id
             WHERE c.source = 'acme' ORDER BY c.updated_at, c.hostname",
        )?;
        let rows = st
            .query_map([], |r| {
                let status: String = r.get(2)?;
                Ok((
                    AcmeWork {
                        hostname: r.get(0)?,
                        app: r.get(1)?,
                        renewal: status == "issued",
                        attempts: r.get(3)?,
                    },
                    AcmeClock {
                        issued: status == "issued",
                        not_before: r.get(4)?,
                        not_after: r.get(5)?,
                        next_attempt: r.get(6)?,
                        renew_now: r.get(7)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// ACME hostnames due at `now` (see [`AcmeClock::due_at`]).
    pub fn acme_due(&self, now: i64, renew_before_s: i64) -> Result<Vec<AcmeWork>> {
        Ok(self
            .acme_rows()?
            .into_iter()
            .filter(|(_, c)| c.due_at(renew_before_s) <= now)
            .map(|(w, _)| w)
            .collect())
    }

    /// When the next ACME hostname falls due, if any.
    pub fn acme_next_due(&self, renew_before_s: i64) -> Result<Option<i64>> {
        Ok(self
            .acme_rows()?
            .iter()
            .map(|(_, c)| c.due_at(renew_before_s))
            .min())
    }

    /// Records a failed ACME attempt. A first issuance turns `error`; a
    /// failed renewal keeps the issued certificate (still valid) and notes why.
    pub fn acme_failed(&self, hostname: &str, reason: &str, now: i64) -> Result<()> {
        let attempts: i64 = self
            .conn
            .query_row(
                "SELECT attempts FROM certs WHERE hostname = ?1",
                [hostname],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0)
            + 1;
        self.conn.execute(
            "UPDATE certs SET status = CASE WHEN status = 'issued' THEN 'issued' ELSE 'error' END,
                    error = ?2, attempts = ?3, next_attempt = ?4, renew_now = 0,
                    updated_at = CASE WHEN status = 'issued' THEN updated_at ELSE ?5 END
             WHERE hostname = ?1 AND source = 'acme'",
            params![
                hostname,
                reason,
                attempts,
                now + acme_backoff(attempts),
                now
            ],
        )?;
        Ok(())
    }

    /// Hostnames with an issued certificate and its version: the router
    /// reloads only the changed ones.
    pub fn served_certs(&self) -> Result<Vec<(String, i64)>> {
        let mut st = self.conn.prepare(
            "SELECT hostname, version FROM certs WHERE status = 'issued' AND chain_sealed IS NOT NULL",
        )?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The chain and the opened private key of `hostname`'s certificate.
    pub fn cert_material(&self, hostname: &str) -> Result<Option<(String, String)>> {
        type Sealed = Option<Vec<u8>>;
        let found: Option<(Sealed, Sealed)> = self
            .conn
            .query_row(
                "SELECT chain_sealed, key_sealed FROM certs WHERE hostname = ?1",
                [hostname],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match found {
            Some((Some(chain), Some(key))) => Ok(Some((
                self.cipher.open_string(&chain_context(hostname), &chain)?,
                self.cipher.open_string(&key_context(hostname), &key)?,
            ))),
            _ => Ok(None),
        }
    }

    pub fn acme_account(&self, directory: &str) -> Result<Option<String>> {
        let sealed: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT credentials FROM acme_accounts WHERE directory = ?1",
                [directory],
                |r| r.get(0),
            )
            .optional()?;
        sealed
            .map(|s| self.cipher.open_string(&format!("acme:{directory}"), &s))
            .transpose()
    }

    pub fn put_acme_account(&self, directory: &str, credentials: &str, now: i64) -> Result<()> {
        let sealed = self
            .cipher
            .seal(&format!("acme:{directory}"), credentials.as_bytes())?;
        self.conn.execute(
            "INSERT INTO acme_accounts (directory, credentials, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (directory) DO UPDATE SET credentials = ?2",
            params![directory, sealed, now],
        )?;
        Ok(())
    }

    pub fn https_redirect(&self, app: &App) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT https_redirect FROM apps WHERE id = ?1",
            [app.id],
            |r| r.get(0),
        )?)
    }

    pub fn set_https_redirect(&self, app: &App, on: bool) -> Result<()> {
        self.conn.execute(
            "UPDATE apps SET https_redirect = ?1 WHERE id = ?2",
            params![on, app.id],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{AcmeClock, CertFacts, CertStatus, acme_backoff};
    use crate::store::test_store;

    #[test]
    fn acme_rows_move_from_pending_to_issued_and_back_off_on_failure() {
        let (_d, store) = test_store();
        store
            .write_sync(|db| {
                db.seed_plans(1)?;
                let u = db.create_user("o@example.com", false, 1)?;
                let org = db.create_org("acme", u.id, 1)?;
                let plan = db.plan_named("hobby")?;
                let app = db.create_app("shop", org.id, plan.id, u.id, 1)?;
                db.add_domain(&app, "shop.example.com", 1)?;
                let hosts = db.app_hostnames(&app)?;
                assert_eq!(hosts, ["shop.localhost", "shop.example.com"]);
                assert_eq!(db.request_acme(Some(&app), &hosts, 100)?, hosts);
                let due: Vec<String> = db
                    .acme_due(100, 30 * DAY)?
                    .into_iter()
                    .map(|w| w.hostname)
                    .collect();
                assert_eq!(due.len(), 2);
                // A failure: status error with the reason, due again after an hour.
                db.acme_failed("shop.localhost", "no DNS", 100)?;
                let c = db.cert("shop.localhost")?.expect("row");
                assert_eq!(
                    (c.status, c.error.as_deref()),
                    (CertStatus::Error, Some("no DNS"))
                );
                assert_eq!(c.next_attempt, 100 + 3600);
                assert_eq!(db.acme_due(200, 30 * DAY)?.len(), 1);
                assert_eq!(db.acme_next_due(30 * DAY)?, Some(0));
                // Issued: the chain and key come back opened, and the row is
                // due again two thirds into its life.
                db.put_cert(
                    Some(&app),
                    "shop.example.com",
                    "acme",
                    &CertFacts {
                        chain_pem: "CHAIN",
                        key_pem: "KEY",
                        not_before: 0,
                        not_after: 90 * DAY,
                        issuer: "test",
                        serial: "01",
                    },
                    100,
                )?;
                assert_eq!(
                    db.cert_material("shop.example.com")?,
                    Some(("CHAIN".to_string(), "KEY".to_string()))
                );
                assert_eq!(db.served_certs()?.len(), 1);
                assert_eq!(db.acme_next_due(30 * DAY)?, Some(100 + 3600));
                db.acme_failed("shop.localhost", "still no DNS", 200)?;
                assert_eq!(
                    db.cert("shop.localhost")?.expect("row").next_attempt,
                    200 + 7200
                );
                assert_eq!(db.acme_next_due(30 * DAY)?, Some(200 + 7200));
                // A failed renewal keeps the issued certificate.
                db.acme_failed("shop.example.com", "rate limited", 60 * DAY)?;
                let c = db.cert("shop.example.com")?.expect("row");
                assert_eq!(c.status, CertStatus::Issued);
                assert_eq!(c.error.as_deref(), Some("rate limited"));
                assert_eq!(db.served_certs()?.len(), 1);
                // Removing the domain takes its certificate.
                db.remove_domain(&app, "shop.example.com")?;
                assert_eq!(db.forget_stray_certs(&app)?, 1);
                assert!(db.cert("shop.example.com")?.is_none());
                Ok(())
            })
            .expect("store");
    }

    const DAY: i64 = 86400;

    #[test]
    fn renewal_falls_due_before_expiry_and_not_in_a_loop() {
        // A 90-day certificate with a 30-day window: due on day 60.
        let c = AcmeClock {
            issued: true,
            not_before: Some(0),
            not_after: Some(90 * DAY),
            ..Default::default()
        };
        assert_eq!(c.due_at(30 * DAY), 60 * DAY);
        // A window of 10 days: day 80.
        assert_eq!(c.due_at(10 * DAY), 80 * DAY);
        // A window longer than the certificate's life: two thirds in, not now.
        assert_eq!(c.due_at(365 * DAY), 60 * DAY);
        // certs:auto again: at once; a failure's backoff still applies.
        let forced = AcmeClock {
            renew_now: true,
            ..c
        };
        assert_eq!(forced.due_at(30 * DAY), 0);
        let backing_off = AcmeClock {
            next_attempt: 61 * DAY,
            ..c
        };
        assert_eq!(backing_off.due_at(30 * DAY), 61 * DAY);
        // Pending and failed ones: when their backoff ends.
        let pending = AcmeClock {
            next_attempt: 5,
            ..Default::default()
        };
        assert_eq!(pending.due_at(30 * DAY), 5);
    }

    #[test]
    fn backoff_doubles_up_to_a_day() {
        assert_eq!(acme_backoff(1), 3600);
        assert_eq!(acme_backoff(2), 7200);
        assert_eq!(acme_backoff(3), 14400);
        assert_eq!(acme_backoff(6), 86400);
        assert_eq!(acme_backoff(60), 86400);
    }
}
