//! The artifact store: slugs, build caches and build logs, as files under a
//! local folder or objects in an S3-compatible bucket (path-style addressing,
//! requests signed with SigV4 by `rusty-s3`). Nothing in it is needed to keep
//! apps running: losing it costs rebuilds, never a live release.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result, invalid};
use crate::store::Store;

pub enum Artifacts {
    Local(PathBuf),
    S3 {
        bucket: Box<Bucket>,
        credentials: Credentials,
        http: reqwest::Client,
    },
}

const SIGNED_FOR: Duration = Duration::from_secs(900);

/// Keys are ours, but are checked anyway: a key can never leave the root.
fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_./".contains(&c))
        && !key.starts_with('/')
        && !key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    if ok {
        Ok(())
    } else {
        Err(Error::Internal(format!("bad artifact key {key:?}")))
    }
}

/// A fresh key under `prefix` (`slugs/shop`), never reused even when app
/// names or ids are.
pub fn new_key(prefix: &str, ext: &str) -> String {
    let mut rnd = [0u8; 6];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut rnd);
    let hex: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}/{}-{hex}.{ext}", crate::store::now())
}

impl Artifacts {
    /// The store the settings describe (`storage_type`, `local_storage_path`, `s3_*`).
    pub async fn from_settings(store: &Store, data_dir: &Path) -> Result<Artifacts> {
        let s = store
            .read(|db| {
                let mut m = std::collections::HashMap::new();
                for k in [
                    "storage_type",
                    "local_storage_path",
                    "s3_endpoint",
                    "s3_region",
                    "s3_bucket",
                    "s3_access_key_id",
                    "s3_secret_access_key",
                ] {
                    m.insert(k, db.setting(k)?);
                }
                Ok(m)
            })
            .await?;
        if s["storage_type"] != "s3" {
            let root = match s["local_storage_path"].as_str() {
                "" => data_dir.join("storage"),
                p => PathBuf::from(p),
            };
            return Ok(Artifacts::Local(root));
        }
        let need = |k: &str| -> Result<String> {
            let v = s[k].clone();
            if v.is_empty() {
                Err(invalid(format!(
                    "storage_type is s3 but {k} is not set: run `skypanel admin settings:set {k} VALUE`"
                )))
            } else {
                Ok(v)
            }
        };
        let endpoint = need("s3_endpoint")?;
        let url = endpoint
            .parse()
            .map_err(|e| invalid(format!("s3_endpoint {endpoint} is not a URL: {e}")))?;
        let bucket = Bucket::new(
            url,
            UrlStyle::Path,
            need("s3_bucket")?,
            s["s3_region"].clone(),
        )
        .map_err(|e| invalid(format!("s3_endpoint {endpoint} cannot be used: {e}")))?;
        let credentials =
            Credentials::new(need("s3_access_key_id")?, need("s3_secret_access_key")?);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Artifacts::S3 {
            bucket: Box::new(bucket),
            credentials,
            http,
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Artifacts::Local(root) => format!("local folder {}", root.display()),
            Artifacts::S3 { bucket, .. } => format!("S3 bucket {}", bucket.name()),
        }
    }

    /// Stores the file at `path` under `key`; returns its size in bytes.
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<u64> {
        check_key(key)?;
        let size = tokio::fs::metadata(path).await?.len();
        match self {
            Artifacts::Local(root) => {
                let dest = root.join(key);
                if let Some(dir) = dest.parent() {
                    tokio::fs::create_dir_all(dir).await?;
                }
                let tmp = dest.with_extension("partial");
                tokio::fs::copy(path, &tmp).await?;
                tokio::fs::rename(&tmp, &dest).await?;
            }
            Artifacts::S3 {
                bucket,
                credentials,
                http,
            } => {
                let url = bucket.put_object(Some(credentials), key).sign(SIGNED_FOR);
                let file = tokio::fs::File::open(path).await?;
                let res = http
                    .put(url)
                    .header(reqwest::header::CONTENT_LENGTH, size)
                    .body(reqwest::Body::from(file))
                    .send()
                    .await
                    .map_err(|e| s3_error("upload", key, e))?;
                s3_status("upload", key, res).await?;
            }
        }
        Ok(size)
    }

    /// Fetches `key` into `path`; `false` when the store has no such key.
    pub async fn get_file(&self, key: &str, path: &Path) -> Result<bool> {
        check_key(key)?;
        match self {
            Artifacts::Local(root) => match tokio::fs::copy(root.join(key), path).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e.into()),
            },
            Artifacts::S3 {
                bucket,
                credentials,
                http,
            } => {
                let url = bucket.get_object(Some(credentials), key).sign(SIGNED_FOR);
                let mut res = http
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| s3_error("download", key, e))?;
                if res.status() == reqwest::StatusCode::NOT_FOUND {
                    return Ok(false);
                }
                if !res.status().is_success() {
                    return s3_status("download", key, res).await.map(|_| false);
                }
                let mut out = tokio::fs::File::create(path).await?;
                while let Some(chunk) = res
                    .chunk()
                    .await
                    .map_err(|e| s3_error("download", key, e))?
                {
                    out.write_all(&chunk).await?;
                }
                out.flush().await?;
                Ok(true)
            }
        }
    }

    /// Deletes `key`; a missing key is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        match self {
            Artifacts::Local(root) => match tokio::fs::remove_file(root.join(key)).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            },
            Artifacts::S3 {
                bucket,
                credentials,
                http,
            } => {
                let url = bucket
                    .delete_object(Some(credentials), key)
                    .sign(SIGNED_FOR);
                let res = http
                    .delete(url)
                    .send()
                    .await
                    .map_err(|e| s3_error("delete", key, e))?;
                if res.status() == reqwest::StatusCode::NOT_FOUND {
                    return Ok(());
                }
                s3_status("delete", key, res).await
            }
        }
    }
}

fn s3_error(what: &str, key: &str, e: reqwest::Error) -> Error {
    // reqwest's message may carry the signed URL; keep only its kind.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    Error::Internal(format!("artifact store: {what} of {key}: {kind}"))
}

async fn s3_status(what: &str, key: &str, res: reqwest::Response) -> Result<()> {
    let status = res.status();
    if status.is_success() {
        return Ok(());
    }
    let body = res.text().await.unwrap_or_default();
    let code = body
        .split("<Code>")
        .nth(1)
        .and_then(|r| r.split("</Code>").next())
        .unwrap_or("");
    Err(Error::Internal(format!(
        "artifact store: {what} of {key} answered HTTP {status} {code}: check the s3_* settings and that the bucket exists"
    )))
}

/// Compresses `src` into `dest` with zstd (level 3), on the blocking pool.
pub async fn compress(src: PathBuf, dest: PathBuf) -> Result<()> {
    tokio::task::spawn_blocking(move || -> Result<()> {
        let mut input = std::fs::File::open(&src)?;
        let out = std::fs::File::create(&dest)?;
        let mut enc = zstd::Encoder::new(out, 3)?;
        std::io::copy(&mut input, &mut enc)?;
        enc.finish()?;
        Ok(())
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// Decompresses a zstd file `src` into `dest`.
pub async fn decompress(src: PathBuf, dest: PathBuf) -> Result<()> {
    tokio::task::spawn_blocking(move || -> Result<()> {
        let input = std::fs::File::open(&src)?;
        let mut dec = zstd::Decoder::new(input)?;
        let mut out = std::fs::File::create(&dest)?;
        std::io::copy(&mut dec, &mut out)?;
        Ok(())
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_store() {
        assert!(check_key("slugs/shop/1-ab.tar.zst").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "./a",
            "a/",
            "sp ace",
            "a\\b",
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        let k = new_key("caches/shop", "tar.zst");
        assert!(check_key(&k).is_ok(), "{k}");
        assert_ne!(k, new_key("caches/shop", "tar.zst"));
    }

    #[tokio::test]
    async fn local_store_round_trip() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = Artifacts::Local(dir.path().join("storage"));
        let src = dir.path().join("in");
        std::fs::write(&src, b"slug bytes").expect("write");
        assert_eq!(
            a.put_file("slugs/x/1.tar.zst", &src).await.expect("put"),
            10
        );
        let back = dir.path().join("out");
        assert!(a.get_file("slugs/x/1.tar.zst", &back).await.expect("get"));
        assert_eq!(std::fs::read(&back).expect("read"), b"slug bytes");
        a.delete("slugs/x/1.tar.zst").await.expect("delete");
        assert!(!a.get_file("slugs/x/1.tar.zst", &back).await.expect("get"));
        a.delete("slugs/x/1.tar.zst").await.expect("delete twice");
    }
}
