//! Stored settings. Secret keys are sealed; the registry in `crate::settings`
//! decides types and defaults.

use rusqlite::{OptionalExtension, params};

use super::Db;
use crate::error::Result;
use crate::settings::{DEFS, Def, lookup};

impl Db<'_> {
    /// The stored value of `key` (decrypted), or None when nothing is stored.
    pub fn setting_stored(&self, def: &Def) -> Result<Option<String>> {
        let row: Option<(Option<String>, Option<Vec<u8>>)> = self
            .conn
            .query_row(
                "SELECT value, value_enc FROM settings WHERE key = ?1",
                [def.key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((_, Some(sealed))) => {
                Ok(Some(self.cipher.open_string(&context(def.key), &sealed)?))
            }
            Some((value, None)) => Ok(Some(value.unwrap_or_default())),
        }
    }

    /// The effective value of a registry key: the stored one, else the default.
    pub fn setting(&self, key: &str) -> Result<String> {
        let def = lookup(key)?;
        Ok(self
            .setting_stored(def)?
            .unwrap_or_else(|| def.default.to_string()))
    }

    pub fn setting_i64(&self, key: &str) -> Result<i64> {
        let v = self.setting(key)?;
        v.parse().map_err(|_| {
            crate::error::Error::Internal(format!("setting {key} holds {v:?}, not a number"))
        })
    }

    /// Stores an already normalised value.
    pub fn put_setting(&self, def: &Def, value: &str, now: i64) -> Result<()> {
        let (plain, sealed) = if def.secret && !value.is_empty() {
            (
                None,
                Some(self.cipher.seal(&context(def.key), value.as_bytes())?),
            )
        } else {
            (Some(value), None)
        };
        self.conn.execute(
            "INSERT INTO settings (key, value, value_enc, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET value = ?2, value_enc = ?3, updated_at = ?4",
            params![def.key, plain, sealed, now],
        )?;
        Ok(())
    }

    pub fn delete_setting(&self, def: &Def) -> Result<()> {
        self.conn
            .execute("DELETE FROM settings WHERE key = ?1", [def.key])?;
        Ok(())
    }

    /// Writes the default of every key that has no row yet; `computed` gives
    /// values that depend on the installation (like the storage path).
    pub fn seed_settings(&self, computed: &[(&str, String)], now: i64) -> Result<usize> {
        let mut n = 0;
        for def in DEFS {
            if self.setting_stored(def)?.is_some() {
                continue;
            }
            let value = computed
                .iter()
                .find(|(k, _)| *k == def.key)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| def.default.to_string());
            self.put_setting(def, &value, now)?;
            n += 1;
        }
        Ok(n)
    }
}

fn context(key: &str) -> String {
    format!("setting:{key}")
}
