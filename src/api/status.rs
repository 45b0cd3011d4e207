//! Statuses as types: the same strings on the wire and in the database as
//! before (`snake_case`), one spelling in the code.

use serde::{Deserialize, Serialize};

/// A status enum with its wire strings, `ALL`, `as_str`, `parse` and
/// `Display`.
macro_rules! status {
    ($(#[$doc:meta])* $name:ident { $($(#[$va:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$va])* $variant),+
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status!(
    /// Where a release is in its life.
    #[derive(Default)]
    ReleaseStatus {
        #[default]
        Pending => "pending",
        Deploying => "deploying",
        Live => "live",
        Superseded => "superseded",
        Failed => "failed",
    }
);

impl ReleaseStatus {
    /// Live, superseded or failed: it will not move again by itself.
    pub fn settled(self) -> bool {
        !matches!(self, ReleaseStatus::Pending | ReleaseStatus::Deploying)
    }
}

status!(
    /// How a build ended, or that it runs.
    BuildStatus {
        Building => "building",
        Succeeded => "succeeded",
        Failed => "failed",
        Canceled => "canceled",
    }
);

status!(
    /// A hostname's certificate: none yet, being issued, served, or the
    /// last issuance failed.
    CertStatus {
        None => "none",
        Pending => "pending",
        Issued => "issued",
        Error => "error",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T], as_str: fn(T) -> &'static str, parse: fn(&str) -> Option<T>)
    where
        T: Copy + PartialEq + std::fmt::Debug + Serialize + for<'a> Deserialize<'a>,
    {
        for s in all.iter().copied() {
            let wire = serde_json::to_string(&s).expect("serialize");
            assert_eq!(wire, format!("\"{}\"", as_str(s)));
            assert_eq!(parse(as_str(s)), Some(s));
            assert_eq!(serde_json::from_str::<T>(&wire).expect("parse"), s);
        }
    }

    #[test]
    fn statuses_keep_their_wire_strings() {
        round_trip(
            ReleaseStatus::ALL,
            ReleaseStatus::as_str,
            ReleaseStatus::parse,
        );
        round_trip(BuildStatus::ALL, BuildStatus::as_str, BuildStatus::parse);
        round_trip(CertStatus::ALL, CertStatus::as_str, CertStatus::parse);
        assert_eq!(ReleaseStatus::parse("Live"), None);
        assert_eq!(
            serde_json::to_string(ReleaseStatus::ALL).expect("all"),
            r#"["pending","deploying","live","superseded","failed"]"#
        );
        assert_eq!(
            serde_json::to_string(BuildStatus::ALL).expect("all"),
            r#"["building","succeeded","failed","canceled"]"#
        );
    }

    #[test]
    fn only_live_superseded_and_failed_releases_are_settled() {
        let settled: Vec<_> = ReleaseStatus::ALL.iter().filter(|s| s.settled()).collect();
        assert_eq!(
            settled,
            vec![
                &ReleaseStatus::Live,
                &ReleaseStatus::Superseded,
                &ReleaseStatus::Failed
            ]
        );
    }
}
