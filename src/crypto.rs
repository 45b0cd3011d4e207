//! Secrets at rest and API tokens.
//!
//! Values are sealed with AES-256-GCM (ring): `nonce (12 bytes) || ciphertext || tag`.
//! The associated data binds a value to where it is stored (for example
//! `config:<app id>:<KEY>`), so a sealed value copied to another row does not open.
//! API tokens are random, shown once, and stored as SHA-256 hashes.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

pub const KEY_ENV: &str = "SKYPANEL_ENCRYPTION_KEY";
pub const TOKEN_PREFIX: &str = "skp_";

pub struct Cipher {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(<key hidden>)")
    }
}

impl Cipher {
    pub fn from_bytes(bytes: &[u8]) -> Result<Cipher> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| {
            Error::Invalid("the encryption key must be exactly 32 bytes".to_string())
        })?;
        Ok(Cipher {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// Parses a key written as 64 hex digits or as base64 of 32 bytes.
    pub fn from_text(text: &str, source: &str) -> Result<Cipher> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex_decode(text)
        } else {
            base64::engine::general_purpose::STANDARD.decode(text).ok()
        };
        match bytes {
            Some(b) if b.len() == 32 => Cipher::from_bytes(&b),
            _ => Err(Error::Invalid(format!(
                "the encryption key in {source} is not 32 bytes written as 64 hex digits or base64: \
                 make one with `head -c32 /dev/urandom | base64`"
            ))),
        }
    }

    /// The key from `SKYPANEL_ENCRYPTION_KEY`, else from `key_file`.
    pub fn load(key_file: &Path) -> Result<Cipher> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return Cipher::from_text(&text, KEY_ENV);
        }
        let text = std::fs::read_to_string(key_file).map_err(|e| {
            Error::Invalid(format!(
                "cannot read the encryption key file {}: {e}; run `skypanel admin init` or set {KEY_ENV}",
                key_file.display()
            ))
        })?;
        Cipher::from_text(&text, &key_file.display().to_string())
    }

    /// Loads the key, creating a new 0600 key file when neither the variable nor
    /// the file exists. Returns whether a file was created.
    pub fn load_or_create(key_file: &Path) -> Result<(Cipher, bool)> {
        if std::env::var_os(KEY_ENV).is_some() || key_file.exists() {
            return Ok((Cipher::load(key_file)?, false));
        }
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| Error::Internal("the system random generator failed".into()))?;
        let text = base64::engine::general_purpose::STANDARD.encode(key);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(key_file)
            .map_err(|e| Error::Internal(format!("cannot create {}: {e}", key_file.display())))?;
        f.write_all(format!("{text}\n").as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::Internal(format!("cannot write {}: {e}", key_file.display())))?;
        std::fs::set_permissions(key_file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::Internal(format!("cannot chmod {}: {e}", key_file.display())))?;
        Ok((Cipher::from_bytes(&key)?, true))
    }

    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| Error::Internal("the system random generator failed".into()))?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::Internal("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let fail = || {
            Error::Internal(format!(
                "a stored secret ({context}) cannot be decrypted: is {KEY_ENV} or the key file the one \
                 this database was created with?"
            ))
        };
        if sealed.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut buf = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| fail())?;
        Ok(plain.to_vec())
    }

    pub fn open_string(&self, context: &str, sealed: &[u8]) -> Result<String> {
        String::from_utf8(self.open(context, sealed)?)
            .map_err(|_| Error::Internal(format!("a stored secret ({context}) is not UTF-8")))
    }
}

/// A new API token: `skp_` and 64 hex digits (256 bits).
pub fn new_token() -> Result<String> {
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| Error::Internal("the system random generator failed".into()))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex_encode(&raw)))
}

pub fn hash_token(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_context_binding() {
        let c = Cipher::from_bytes(&[7u8; 32]).expect("key");
        let sealed = c.seal("config:1:A", b"hunter2").expect("seal");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            c.open_string("config:1:A", &sealed).expect("open"),
            "hunter2"
        );
        assert!(
            c.open("config:2:A", &sealed).is_err(),
            "another row's context must not open it"
        );
        let other = Cipher::from_bytes(&[8u8; 32]).expect("key");
        assert!(
            other.open("config:1:A", &sealed).is_err(),
            "another key must not open it"
        );
    }

    #[test]
    fn key_text_forms() {
        let hex = "00".repeat(32);
        assert!(Cipher::from_text(&hex, "t").is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(Cipher::from_text(&b64, "t").is_ok());
        let err = Cipher::from_text("short", "the test").expect_err("short key");
        assert!(err.to_string().contains("the test"));
    }

    #[test]
    fn tokens_are_unique_and_hashed() {
        let a = new_token().expect("token");
        let b = new_token().expect("token");
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == 68);
        assert_eq!(hash_token(&a).len(), 32);
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
