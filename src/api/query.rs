//! Query strings: one type per endpoint that takes one. The CLI builds its
//! query strings from these (`Client::get_query`), the daemon reads them
//! back, so a parameter is named in one place. Values the daemon checks
//! with its own message (numbers, dates) travel as text.

use serde::{Deserialize, Serialize};

/// `GET /apps/{app}/releases/{version}?wait=true`: answer only once the
/// release settled (live, failed or superseded), or after
/// [`RELEASE_WAIT`], so waiting clients need not poll.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReleaseQuery {
    #[serde(default)]
    pub wait: bool,
}

/// How long `?wait=true` holds a request at most.
pub const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(25);

/// `GET /apps?org=ORG` or `?all=true` (admins: every org's apps).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AppsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
}

/// `PATCH /apps/{app}/config?restart=false`: change the config without a
/// new release.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ConfigQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
}

/// `GET /admin/join-command?manager=true`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JoinQuery {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manager: bool,
}

/// `GET /admin/events?limit=N`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EventsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `GET /apps/{app}/checks/history?lines=N`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HistoryQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<String>,
}

/// `GET /orgs/{org}/billing/usage?from=D&to=D&by=app|hour|day`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UsageQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// `GET /orgs/{org}/billing/statement?month=YYYY-MM`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StatementQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
}

/// `GET /apps/{app}/logs?…`. The daemon refuses a parameter it does not
/// know (naming the ones it does), so it reads these names from a map;
/// a test checks it accepts every field here.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LogsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tail: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}
