//! Users and API tokens. Tokens are stored only as SHA-256 hashes.

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, unique_conflict};
use crate::crypto;
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub is_admin: bool,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The first characters of the token, so a user can tell tokens apart.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// `last_used_at` is refreshed at most this often, so reads stay reads.
const TOUCH_EVERY: i64 = 60;

fn user(r: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        is_admin: r.get(2)?,
        created_at: r.get(3)?,
    })
}

fn token(r: &Row) -> rusqlite::Result<Token> {
    Ok(Token {
        id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        prefix: r.get(3)?,
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

const TOKEN_COLS: &str = "id, user_id, name, prefix, created_at, last_used_at, revoked_at";

impl Db<'_> {
    pub fn create_user(&self, email: &str, is_admin: bool, now: i64) -> Result<User> {
        crate::validate::email(email)?;
        let email = email.to_ascii_lowercase();
        self.conn
            .execute(
                "INSERT INTO users (email, is_admin, created_at) VALUES (?1, ?2, ?3)",
                params![email, is_admin, now],
            )
            .map_err(|e| unique_conflict(e, || format!("user {email} already exists")))?;
        Ok(User {
            id: self.conn.last_insert_rowid(),
            email,
            is_admin,
            created_at: now,
        })
    }

    pub fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, email, is_admin, created_at FROM users WHERE email = ?1",
                [email],
                user,
            )
            .optional()?)
    }

    /// The user, or an error that names the email and how to create the user.
    pub fn user_named(&self, email: &str) -> Result<User> {
        self.user_by_email(email)?.ok_or_else(|| {
            Error::NotFound(format!(
                "no user with email {}: an admin creates users with `skypanel admin users:create EMAIL`",
                crate::validate::printable(email)
            ))
        })
    }

    pub fn users(&self) -> Result<Vec<User>> {
        let mut st = self
            .conn
            .prepare("SELECT id, email, is_admin, created_at FROM users ORDER BY email")?;
        let rows = st.query_map([], user)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn first_admin(&self) -> Result<Option<User>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, email, is_admin, created_at FROM users WHERE is_admin = 1 ORDER BY id LIMIT 1",
                [],
                user,
            )
            .optional()?)
    }

    /// Creates a token and returns it with its secret, which is never stored.
    pub fn create_token(&self, user_id: i64, name: &str, now: i64) -> Result<(Token, String)> {
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(Error::Invalid(format!(
                "token name \"{}\" is invalid: use 1 to 64 printable characters",
                crate::validate::printable(name)
            )));
        }
        let secret = crypto::new_token()?;
        let prefix: String = secret
            .chars()
            .take(crypto::TOKEN_PREFIX.len() + 6)
            .collect();
        self.conn.execute(
            "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![user_id, name, crypto::hash_token(&secret), prefix, now],
        )?;
        let id = self.conn.last_insert_rowid();
        let t = Token {
            id,
            user_id,
            name: name.to_string(),
            prefix,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        Ok((t, secret))
    }

    pub fn tokens_of(&self, user_id: i64) -> Result<Vec<Token>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {TOKEN_COLS} FROM api_tokens WHERE user_id = ?1 ORDER BY id"
        ))?;
        let rows = st
            .query_map([user_id], token)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn revoke_token(&self, user_id: i64, id: i64, now: i64) -> Result<Token> {
        let t = self
            .conn
            .query_row(
                &format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = ?1 AND user_id = ?2"),
                params![id, user_id],
                token,
            )
            .optional()?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "you have no token with id {id}: run `skypanel tokens` to list yours"
                ))
            })?;
        if t.revoked_at.is_some() {
            return Err(Error::Conflict(format!("token {id} is already revoked")));
        }
        self.conn.execute(
            "UPDATE api_tokens SET revoked_at = ?1 WHERE id = ?2",
            params![now, id],
        )?;
        Ok(Token {
            revoked_at: Some(now),
            ..t
        })
    }

    /// The user a live token belongs to. Refreshes `last_used_at` at most once a minute.
    pub fn authenticate(&self, secret: &str, now: i64) -> Result<Option<User>> {
        let hash = crypto::hash_token(secret);
        let found = self
            .conn
            .query_row(
                "SELECT t.id, t.last_used_at, u.id, u.email, u.is_admin, u.created_at
                 FROM api_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = ?1 AND t.revoked_at IS NULL",
                [hash],
                |r| {
                    let tid: i64 = r.get(0)?;
                    let last: Option<i64> = r.get(1)?;
                    let u = User {
                        id: r.get(2)?,
                        email: r.get(3)?,
                        is_admin: r.get(4)?,
                        created_at: r.get(5)?,
                    };
                    Ok((tid, last, u))
                },
            )
            .optional()?;
        let Some((tid, last, u)) = found else {
            return Ok(None);
        };
        if last.is_none_or(|l| now - l >= TOUCH_EVERY) {
            self.conn.execute(
                "UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2",
                params![now, tid],
            )?;
        }
        Ok(Some(u))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_store;

    #[test]
    fn token_lifecycle() {
        let (_d, store) = test_store();
        store
            .write_sync(|db| {
                let u = db.create_user("Ann@Example.com", false, 10)?;
                assert_eq!(u.email, "ann@example.com");
                assert!(
                    db.create_user("ann@example.com", true, 11).is_err(),
                    "emails are unique"
                );
                let (t, secret) = db.create_token(u.id, "laptop", 10)?;
                assert_eq!(
                    db.authenticate(&secret, 20)?.map(|u| u.email).as_deref(),
                    Some("ann@example.com")
                );
                assert!(db.authenticate("skp_nope", 20)?.is_none());
                db.revoke_token(u.id, t.id, 30)?;
                assert!(
                    db.authenticate(&secret, 31)?.is_none(),
                    "revoked tokens stop working"
                );
                assert!(db.revoke_token(u.id, t.id, 32).is_err());
                Ok(())
            })
            .expect("tx");
    }
}
