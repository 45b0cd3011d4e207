//! The wire format: every request and response body of the HTTP API, shared by
//! the daemon and the CLI. No other module defines what travels on the wire.
//! Times are RFC 3339 strings; money is a decimal string (exact).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod events;
mod query;
mod status;

pub use events::*;
pub use query::*;
pub use status::*;

pub const PREFIX: &str = "/api/v1";

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub code: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub database: String,
    pub docker: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OrgRole {
    pub org: String,
    pub role: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Whoami {
    pub email: String,
    pub is_admin: bool,
    pub orgs: Vec<OrgRole>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct User {
    pub email: String,
    pub is_admin: bool,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CreateUser {
    pub email: String,
    #[serde(default)]
    pub admin: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CreatedUser {
    pub user: User,
    /// Shown once; only its hash is stored.
    pub token: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CreateToken {
    pub name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: Token,
    /// Shown once; only its hash is stored.
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Org {
    pub name: String,
    pub role: Option<String>,
    pub members: i64,
    pub apps: i64,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CreateOrg {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Member {
    pub email: String,
    pub role: String,
    pub added_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AddMember {
    pub email: String,
    pub role: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AddWebhook {
    pub url: String,
    /// Comma-separated groups (deploy, crash, health, billing, node); empty: all but node.
    #[serde(default)]
    pub events: String,
}

/// A new endpoint and its signing secret, shown this once.
#[derive(Debug, Serialize, Deserialize)]
pub struct NewWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    pub webhook: i64,
    pub event: String,
    /// pending, delivered or failed (given up).
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<String>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Webhooks {
    pub webhooks: Vec<Webhook>,
    /// The latest deliveries, newest first.
    pub deliveries: Vec<Delivery>,
}

/// An org's wallet now.
#[derive(Debug, Serialize, Deserialize)]
pub struct Billing {
    pub org: String,
    pub currency: String,
    pub balance: String,
    /// What the org's running apps cost per hour now.
    pub burn_hourly: String,
    pub replicas: i64,
    /// Hours the balance lasts at this burn; `None` when nothing is billed.
    pub runway_hours: Option<f64>,
    /// active or suspended.
    pub status: String,
    pub suspended_at: Option<String>,
    /// Metered since the last billed hour, not yet taken from the balance.
    pub unbilled: String,
    pub unbilled_replica_minutes: i64,
    /// Every hour before this is billed.
    pub billed_until: Option<String>,
}

/// `billing:usage`: billed usage grouped by app, hour or day.
#[derive(Debug, Serialize, Deserialize)]
pub struct Usage {
    pub org: String,
    pub currency: String,
    pub from: String,
    pub to: String,
    /// app, hour or day.
    pub by: String,
    pub lines: Vec<UsageLine>,
    pub replica_minutes: i64,
    pub total: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UsageLine {
    /// The app, the hour (RFC 3339) or the day (YYYY-MM-DD).
    pub key: String,
    /// The plans billed in the line.
    pub plans: Vec<String>,
    pub hours: i64,
    pub replica_minutes: i64,
    pub cost: String,
}

/// `billing:statement`: a month of an org's wallet.
#[derive(Debug, Serialize, Deserialize)]
pub struct Statement {
    pub org: String,
    pub currency: String,
    /// YYYY-MM.
    pub month: String,
    pub from: String,
    pub to: String,
    pub opening_balance: String,
    pub credits: String,
    pub debits: String,
    pub usage: String,
    pub closing_balance: String,
    /// Usage per app.
    pub apps: Vec<UsageLine>,
    /// Credits and debits, oldest first.
    pub entries: Vec<Transaction>,
}

/// `admin billing:run`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BillingRun {
    /// Bill hours that end by this time (RFC 3339 or 2026-11-24T10:00Z); now when absent.
    pub until: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BillingRunReport {
    /// The hours billed (their starts).
    pub hours: Vec<String>,
    pub apps: usize,
    pub billed: String,
    pub currency: String,
    /// Every hour before this is billed.
    pub billed_until: Option<String>,
    /// How long billing the hours took.
    pub ms: f64,
    /// Of which dropping the samples billed a day ago.
    pub prune_ms: f64,
    pub suspended: Vec<String>,
    pub resumed: Vec<String>,
}

/// `admin orgs`: every org with its wallet.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdminOrg {
    pub name: String,
    pub members: i64,
    pub apps: i64,
    pub balance: String,
    /// active or suspended.
    pub status: String,
    pub created_at: String,
}

/// One ledger entry: credit, debit or usage, with the balance after it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Transaction {
    pub id: i64,
    pub at: String,
    pub kind: String,
    /// Signed: credits positive.
    pub amount: String,
    pub balance: String,
    pub note: String,
    pub by: Option<String>,
}

/// `admin billing:credit` / `billing:debit`: a positive amount.
#[derive(Debug, Serialize, Deserialize)]
pub struct LedgerChange {
    pub amount: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    /// CPUs, as typed: "0.5".
    pub cpu: String,
    pub memory: String,
    pub memory_mb: i64,
    pub max_replicas: i64,
    pub price_hourly: String,
    /// The hourly price times 730 hours.
    pub price_monthly: String,
    pub features: Vec<String>,
    pub default: bool,
}

/// `plans:create` sends every field, `plans:update` some. Figures travel as the
/// user typed them and are parsed (and refused) by the daemon.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PlanSpec {
    pub name: Option<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub max_replicas: Option<i64>,
    pub price_hourly: Option<String>,
    pub features: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Setting {
    pub key: String,
    pub category: String,
    /// Masked ("********") for secret keys that hold a value.
    pub value: String,
    pub default: String,
    pub secret: bool,
    pub allowed: String,
    pub description: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SetSetting {
    pub value: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct App {
    pub name: String,
    pub org: String,
    pub plan: String,
    pub created_at: String,
    pub created_by: Option<String>,
    pub git_url: String,
    pub web_url: String,
    pub config_vars: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CreateApp {
    pub name: String,
    pub org: Option<String>,
    pub plan: Option<String>,
}

/// `GET /apps/{app}/config` answers with the whole map.
pub type Config = BTreeMap<String, String>;

/// `PATCH /apps/{app}/config`: a value sets, `null` unsets; applied as a whole.
pub type ConfigPatch = BTreeMap<String, Option<String>>;

/// Seconds since the epoch as RFC 3339 (UTC, seconds).
pub fn time(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// What `skypanel admin init --json` prints.
#[derive(Debug, Serialize, Deserialize)]
pub struct InitReport {
    pub data_dir: String,
    pub database: String,
    /// The key file, or the environment variable the key came from.
    pub key: String,
    pub key_created: bool,
    pub plans_seeded: bool,
    pub settings_seeded: usize,
    pub admin: String,
    /// This installation's id: the `skypanel.instance` label on its Docker objects.
    pub instance: String,
    /// The Swarm this installation runs apps on (None with --skip-docker).
    pub swarm: Option<String>,
    /// The organization created for the first admin (first run only).
    pub org: Option<String>,
    /// The first admin's token: only on the run that created the admin.
    pub token: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Release {
    pub version: i64,
    pub status: ReleaseStatus,
    pub image: String,
    pub formation: BTreeMap<String, i64>,
    pub description: String,
    /// Why a release failed: which check, what answer.
    pub reason: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// `POST /apps/{app}/releases`: deploy a ready image as a new release.
#[derive(Debug, Serialize, Deserialize)]
pub struct Deploy {
    pub image: String,
    pub process: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Rollback {
    pub version: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConfigUpdated {
    pub config: Config,
    /// The release that rolls the change out, unless there is no live release
    /// or the change was recorded with `--no-restart`.
    pub release: Option<Release>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub slot: i64,
    pub state: String,
    pub node: String,
    /// The host port Docker gave the task (web only).
    pub port: Option<u16>,
    /// Passed a check and is a live backend (web tasks of the live release).
    pub healthy: bool,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Process {
    pub name: String,
    pub desired: i64,
    pub running: i64,
    pub tasks: Vec<Task>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Ps {
    /// The live release, if any.
    pub release: Option<i64>,
    pub processes: Vec<Process>,
    /// `address:port` of each live web task: the set the router uses.
    pub backends: Vec<String>,
}

/// `PATCH /apps/{app}/formation`: process type → replicas.
pub type Formation = BTreeMap<String, i64>;

#[derive(Debug, Serialize, Deserialize)]
pub struct Checks {
    pub enabled: bool,
    pub path: String,
    pub attempts: i64,
    pub timeout: i64,
    pub wait: i64,
}

/// `apps:stats`: each process's resource use now, and the router's figures
/// for the last hour.
#[derive(Debug, Serialize, Deserialize)]
pub struct AppStats {
    pub app: String,
    pub release: Option<i64>,
    pub processes: Vec<ProcessStats>,
    pub router: RouterStats,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProcessStats {
    pub process: String,
    pub desired: i64,
    pub running: i64,
    /// CPU over a one-second sample, in percent of one CPU, summed over tasks.
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
    /// Tasks of this release that ended in failure (Swarm keeps the last few).
    pub restarts: i64,
    /// Tasks running on other nodes, whose use is not sampled.
    pub unsampled: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RouterStats {
    pub requests_last_hour: u64,
    pub requests_per_minute: f64,
    pub errors_5xx_last_hour: u64,
    /// 95th percentile of the time to the response head; `None` without requests.
    pub p95_ms: Option<f64>,
}

/// One health probe of a live web task and what the monitor did.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub at: String,
    pub release: i64,
    pub task: String,
    /// The task's slot: web.N.
    pub slot: i64,
    pub ok: bool,
    pub latency_ms: i64,
    /// "ok", or why the probe failed.
    pub detail: String,
    /// none, replaced, held (backing off) or alert.
    pub action: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ChecksUpdate {
    pub enabled: Option<bool>,
    pub path: Option<String>,
    pub attempts: Option<i64>,
    pub timeout: Option<i64>,
    pub wait: Option<i64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Restart {
    /// Only this process type (default: all).
    pub process: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub hostname: String,
    pub role: String,
    pub status: String,
    pub availability: String,
    pub addr: String,
    pub engine: String,
    /// CPUs, like "2".
    pub cpus: String,
    pub memory_mb: i64,
    pub reserved_cpus: String,
    pub reserved_memory_mb: i64,
    pub tasks: i64,
    pub last_heartbeat: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub at: String,
    /// info, warning or error.
    pub level: String,
    pub kind: String,
    pub app: Option<String>,
    pub node: Option<String>,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct JoinCommand {
    pub role: String,
    pub command: String,
}

/// One build (a push to the deploy branch).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Build {
    pub number: i64,
    /// dockerfile or herokuish.
    pub builder: String,
    pub commit: String,
    pub branch: String,
    pub status: BuildStatus,
    pub reason: Option<String>,
    /// The release it made (vN), once it made one.
    pub release: Option<i64>,
    pub created_by: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_s: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BuildOutput {
    pub build: Build,
    pub output: String,
}

/// How an app is built and which branch deploys.
#[derive(Debug, Serialize, Deserialize)]
pub struct BuildSettings {
    /// auto, dockerfile or herokuish.
    pub builder: String,
    /// The branch whose pushes deploy; None means main or master.
    pub deploy_branch: Option<String>,
    pub git_url: String,
}

/// `PATCH /apps/{app}/build-settings`: fields left out stay; an empty
/// `deploy_branch` goes back to the default.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BuildSettingsUpdate {
    pub builder: Option<String>,
    pub deploy_branch: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Canceled {
    /// Whether a running build was stopped.
    pub canceled: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CachePurged {
    pub caches: usize,
}

/// What the pre-receive hook reports to the daemon.
#[derive(Debug, Serialize, Deserialize)]
pub struct HookPush {
    /// `[old, new, ref]` per updated ref, as git gives them on stdin.
    pub updates: Vec<[String; 3]>,
    /// `GIT_QUARANTINE_PATH`: where the pushed objects wait until accepted.
    pub quarantine: Option<String>,
}

/// The last line of the hook's answer: `\u{1}exit N`.
pub const HOOK_EXIT: &str = "\u{1}exit ";

/// A custom domain of an app.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Domain {
    pub hostname: String,
    pub app: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AddDomain {
    pub hostname: String,
}

/// The app's hostnames: the default one and its custom domains.
#[derive(Debug, Serialize, Deserialize)]
pub struct Domains {
    pub default: String,
    pub custom: Vec<Domain>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Maintenance {
    pub enabled: bool,
}

/// One hostname's TLS state, as `certs` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertState {
    pub hostname: String,
    pub status: CertStatus,
    /// acme or manual; absent when there is no certificate.
    pub source: Option<String>,
    pub expires_at: Option<String>,
    pub issuer: Option<String>,
    /// Why issuing (or, for an issued certificate, renewing) failed.
    pub error: Option<String>,
    /// When the next ACME attempt is due (after a failure).
    pub retry_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Certs {
    pub app: String,
    pub https_redirect: bool,
    pub certs: Vec<CertState>,
}

/// `certs:add`: a bring-your-own certificate chain and its private key, in PEM.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddCert {
    pub certificate: String,
    pub private_key: String,
}

/// `certs:auto`: ACME for one hostname, or (none) every hostname of the app.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AutoCert {
    #[serde(default)]
    pub hostname: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HttpsRedirect {
    pub enabled: bool,
}

/// One log line. `GET /apps/{app}/logs` answers with NDJSON: one
/// [`LogEvent`] a line (an empty line is a keep-alive of a tail).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLine {
    /// RFC 3339, UTC, nanoseconds.
    pub at: String,
    /// `app` (the app's own output) or `skypanel` (deploys, router, health).
    pub source: String,
    /// `web.1`, `worker.2`, … or the platform part: `deploy`, `router`, `health`.
    pub process: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<i64>,
    pub line: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LogEvent {
    /// A tail fell behind: this many lines were skipped (they are stored).
    Missed {
        missed: u64,
    },
    Line(LogLine),
}

/// Nanoseconds since the epoch as RFC 3339 (UTC, nanoseconds).
pub fn time_ns(ns: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns.max(0) as u64);
    humantime::format_rfc3339_nanos(t).to_string()
}
