//! The command line: Heroku-style `topic:verb` commands. Each topic's file
//! holds its argument structs' handlers; this file holds the command tree and
//! the dispatch. Everything but `daemon` and `admin init` talks to the daemon
//! over HTTP; those two open the data dir.

mod account;
mod admin;
mod apps;
mod billing;
mod builds;
mod certs;
pub mod client;
mod domains;
mod git;
mod logs;
mod nodes;
mod orgs;
mod output;
mod releases;

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

pub const DATA_DIR_ENV: &str = "SKYPANEL_DATA_DIR";
pub const DEFAULT_DATA_DIR: &str = "/var/lib/skypanel";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7780";

#[derive(Parser, Debug)]
#[command(
    name = "skypanel",
    version,
    about = "SkyPanel: a self-hosted platform-as-a-service. Create apps, set their config, push to deploy.",
    disable_help_subcommand = true,
    after_help = "Start with `skypanel login --server URL --token TOKEN`, then `skypanel apps:create NAME`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct JsonFlag {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct AppFlag {
    /// The app (default: the app of this repository's `skypanel` git remote)
    #[arg(short = 'a', long = "app", value_name = "APP")]
    pub app: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DataDir {
    /// Where the database and key live
    #[arg(long = "data-dir", env = DATA_DIR_ENV, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    pub path: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Save the server URL and an API token for later commands
    Login(account::LoginArgs),
    /// Forget the saved token
    Logout,
    /// Show who the saved token belongs to
    Whoami(JsonFlag),
    /// Run the control plane (what the systemd unit runs)
    Daemon(DaemonArgs),

    /// List your apps
    Apps(apps::ListArgs),
    /// Create an app (inside a git repository, also adds the `skypanel` remote)
    #[command(name = "apps:create")]
    AppsCreate(apps::CreateArgs),
    /// Show an app
    #[command(name = "apps:info")]
    AppsInfo(apps::InfoArgs),
    /// Delete an app and its config for good
    #[command(name = "apps:destroy")]
    AppsDestroy(apps::DestroyArgs),

    /// Show an app's config vars
    Config(apps::ConfigArgs),
    /// Print one config var's value
    #[command(name = "config:get")]
    ConfigGet(apps::ConfigGetArgs),
    /// Set config vars: KEY=VALUE …
    #[command(name = "config:set")]
    ConfigSet(apps::ConfigSetArgs),
    /// Remove config vars: KEY …
    #[command(name = "config:unset")]
    ConfigUnset(apps::ConfigUnsetArgs),

    /// Deploy a ready image on this server as a new release
    Deploy(releases::DeployArgs),
    /// List an app's releases
    Releases(releases::ListArgs),
    /// Roll back to an earlier release: its image and its config
    #[command(name = "releases:rollback")]
    ReleasesRollback(releases::RollbackArgs),
    /// Show an app's processes and tasks
    Ps(releases::PsArgs),
    /// Show an app's resource use per process (CPU, memory, restarts) and its requests over the last hour
    #[command(name = "apps:stats")]
    AppsStats(releases::ChecksArgs),
    /// Set how many replicas each process type runs: TYPE=COUNT …
    #[command(name = "ps:scale")]
    PsScale(releases::ScaleArgs),
    /// Restart an app's processes without downtime (new tasks first)
    #[command(name = "ps:restart")]
    PsRestart(releases::RestartArgs),
    /// Stop every process of an app (the formation is kept)
    #[command(name = "ps:stop")]
    PsStop(releases::PsArgs),
    /// Start an app's processes again with its formation
    #[command(name = "ps:start")]
    PsStart(releases::PsArgs),
    /// Show an app's deploy checks
    Checks(releases::ChecksArgs),
    /// Set deploy checks: path=/health attempts=5 timeout=5 wait=2
    #[command(name = "checks:set")]
    ChecksSet(releases::ChecksSetArgs),
    /// Use TCP connect only as the deploy check
    #[command(name = "checks:disable")]
    ChecksDisable(releases::ChecksArgs),
    /// Show recent health probes of an app's web tasks: task, result, latency, action
    #[command(name = "checks:history")]
    ChecksHistory(releases::HistoryArgs),

    /// List an app's builds (pushes to its deploy branch)
    Builds(builds::ListArgs),
    /// Print the stored output of a build (also of failed ones)
    #[command(name = "builds:output")]
    BuildsOutput(builds::OutputArgs),
    /// Stop the app's running build; its push is rejected
    #[command(name = "builds:cancel")]
    BuildsCancel(builds::AppArgs),
    /// Choose how pushes are built: auto, dockerfile or herokuish
    #[command(name = "builder:set")]
    BuilderSet(builds::BuilderSetArgs),
    /// Delete the app's buildpack build cache
    #[command(name = "repo:purge-cache")]
    RepoPurgeCache(builds::AppArgs),
    /// Set a git property: deploy-branch BRANCH
    #[command(name = "git:set")]
    GitSet(builds::GitSetArgs),
    /// Add the app's git remote (and credential helper) to this repository
    #[command(name = "git:remote")]
    GitRemote(builds::RemoteArgs),
    /// git credential helper (git runs it; answers with the saved token)
    #[command(name = "git-credential", hide = true)]
    GitCredential { operation: String },
    /// git hook (the daemon's repositories run it during a push)
    #[command(name = "git-hook", hide = true)]
    GitHook { hook: String },

    /// List an app's hostnames: its default one and custom domains
    Domains(domains::ListArgs),
    /// Route a custom domain to an app
    #[command(name = "domains:add")]
    DomainsAdd(domains::DomainArgs),
    /// Stop routing a custom domain to an app
    #[command(name = "domains:remove")]
    DomainsRemove(domains::DomainArgs),
    /// List the TLS certificates of an app's hostnames
    Certs(certs::ListArgs),
    /// Serve an app over HTTPS with your own certificate and key (PEM files)
    #[command(name = "certs:add")]
    CertsAdd(certs::AddArgs),
    /// Get certificates by ACME (Let's Encrypt) for an app's hostnames
    #[command(name = "certs:auto")]
    CertsAuto(certs::AutoArgs),
    /// Remove the certificate of one of an app's hostnames
    #[command(name = "certs:remove")]
    CertsRemove(certs::RemoveArgs),
    /// Turn the HTTP to HTTPS redirect of an app on or off
    #[command(name = "certs:redirect")]
    CertsRedirect(certs::RedirectArgs),
    /// Show whether an app is in maintenance mode
    Maintenance(domains::AppArgs),
    /// Answer every request to an app with a 503 maintenance page
    #[command(name = "maintenance:on")]
    MaintenanceOn(domains::AppArgs),
    /// Serve an app's requests again
    #[command(name = "maintenance:off")]
    MaintenanceOff(domains::AppArgs),

    /// Show an app's logs: its processes' output and the platform's lines
    Logs(logs::LogsArgs),

    /// List your organizations
    Orgs(JsonFlag),
    /// Create an organization; you become its owner
    #[command(name = "orgs:create")]
    OrgsCreate(orgs::CreateArgs),
    /// List an organization's members
    #[command(name = "orgs:members")]
    OrgsMembers(orgs::MembersArgs),
    /// Add a member, or change a member's role (owners only)
    #[command(name = "orgs:members:add")]
    OrgsMembersAdd(orgs::AddArgs),
    /// Remove a member (owners only)
    #[command(name = "orgs:members:remove")]
    OrgsMembersRemove(orgs::RemoveArgs),
    /// List an organization's webhooks and their latest deliveries (owners only)
    #[command(name = "orgs:webhooks")]
    OrgsWebhooks(orgs::WebhooksArgs),
    /// Add a webhook: events are POSTed as JSON signed with HMAC-SHA256 (owners only)
    #[command(name = "orgs:webhooks:add")]
    OrgsWebhooksAdd(orgs::WebhookAddArgs),
    /// Remove a webhook (owners only)
    #[command(name = "orgs:webhooks:remove")]
    OrgsWebhooksRemove(orgs::WebhookRemoveArgs),

    /// Show an organization's wallet: balance, hourly burn now, runway, status
    Billing(billing::OrgArgs),
    /// List an organization's credits, debits and usage charges
    #[command(name = "billing:transactions")]
    BillingTransactions(billing::OrgArgs),
    /// Show billed usage by app, hour or day (--csv for a spreadsheet)
    #[command(name = "billing:usage")]
    BillingUsage(billing::UsageArgs),
    /// A month's statement: opening and closing balance, credits, debits, usage per app
    #[command(name = "billing:statement")]
    BillingStatement(billing::StatementArgs),

    /// List your API tokens
    Tokens(JsonFlag),
    /// Create an API token (shown once)
    #[command(name = "tokens:create")]
    TokensCreate(account::TokenCreateArgs),
    /// Revoke one of your API tokens
    #[command(name = "tokens:revoke")]
    TokensRevoke(account::TokenRevokeArgs),

    /// List the plans apps can run on
    Plans(JsonFlag),

    /// Platform administration (admins only, except `admin init`)
    Admin(AdminArgs),

    /// Print shell completions
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// Address the API listens on
    #[arg(long, default_value = DEFAULT_LISTEN, env = "SKYPANEL_LISTEN")]
    pub listen: String,
    /// Address the router serves apps on over HTTP ("off": no router)
    #[arg(long, default_value = "0.0.0.0:80", env = "SKYPANEL_HTTP_LISTEN")]
    pub http_listen: String,
    /// Address the router serves apps on over HTTPS ("off": no HTTPS)
    #[arg(long, default_value = "0.0.0.0:443", env = "SKYPANEL_HTTPS_LISTEN")]
    pub https_listen: String,
    /// Threads serving the router, each with its own event loop (0: one per CPU)
    #[arg(long, default_value_t = 0, env = "SKYPANEL_ROUTER_THREADS")]
    pub router_threads: usize,
    #[command(flatten)]
    pub data_dir: DataDir,
    /// Log format
    #[arg(long, value_parser = ["text", "json"], default_value = "text", env = "SKYPANEL_LOG_FORMAT")]
    pub log_format: String,
    /// Log level: error, warn, info, debug, trace
    #[arg(long, default_value = "info", env = "SKYPANEL_LOG")]
    pub log_level: tracing::Level,
    /// Tests only: billing reads the time from this file (unix seconds or
    /// 2026-11-24T10:00Z) and sweeps only at start and on `admin billing:run`.
    #[arg(long, hide = true)]
    pub clock_file: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create the data dir, key, database, default plans and settings and the first admin (idempotent; local)
    Init(admin::InitArgs),
    /// List users
    Users(JsonFlag),
    /// Create a user and print their first token (shown once)
    #[command(name = "users:create")]
    UsersCreate(admin::UserCreateArgs),
    /// List every organization: members, apps, balance, status
    Orgs(JsonFlag),
    /// Add money to an organization's wallet
    #[command(name = "billing:credit")]
    BillingCredit(billing::ChangeArgs),
    /// Take money from an organization's wallet
    #[command(name = "billing:debit")]
    BillingDebit(billing::ChangeArgs),
    /// Bill the hours that ended now (the daemon also does it by itself every hour)
    #[command(name = "billing:run")]
    BillingRun(billing::RunArgs),
    /// Add a plan
    #[command(name = "plans:create")]
    PlansCreate(admin::PlanCreateArgs),
    /// Change a plan's figures
    #[command(name = "plans:update")]
    PlansUpdate(admin::PlanUpdateArgs),
    /// Remove a plan no app uses
    #[command(name = "plans:remove")]
    PlansRemove(admin::PlanRemoveArgs),
    /// List the Swarm's nodes: status, availability, capacity, reservations
    Nodes(JsonFlag),
    /// Show one node
    #[command(name = "nodes:info")]
    NodesInfo(nodes::NodeArgs),
    /// Move a node's tasks away and schedule nothing new on it
    #[command(name = "nodes:drain")]
    NodesDrain(nodes::NodeArgs),
    /// Let a drained or paused node run tasks again
    #[command(name = "nodes:activate")]
    NodesActivate(nodes::NodeArgs),
    /// Remove a node that has left the Swarm
    #[command(name = "nodes:remove")]
    NodesRemove(nodes::NodeArgs),
    /// Print the `docker swarm join` command for a new host
    #[command(name = "nodes:join-command")]
    NodesJoinCommand(nodes::JoinArgs),
    /// Alerts and lifecycle events (node down/up, deploys, restarts)
    Events(nodes::EventsArgs),
    /// Compare Swarm with the database now: recreate missing services, remove orphans
    Reconcile(JsonFlag),
    /// List settings (secret values masked)
    Settings(JsonFlag),
    /// Show one setting
    #[command(name = "settings:get")]
    SettingsGet(admin::SettingKeyArgs),
    /// Set a setting (the value is checked against its type)
    #[command(name = "settings:set")]
    SettingsSet(admin::SettingSetArgs),
    /// Restore a setting's default
    #[command(name = "settings:unset")]
    SettingsUnset(admin::SettingKeyArgs),
}

/// Parses the arguments and runs the command; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Daemon(args) => match crate::daemon_main(args) {
            Ok(()) => 0,
            Err(e) => fail(&e),
        },
        Command::GitCredential { operation } => match builds::credential(&operation) {
            Ok(()) => 0,
            Err(e) => fail(&e),
        },
        Command::GitHook { hook } => match builds::hook(&hook) {
            Ok(code) => code,
            Err(e) => {
                println!(" !     {e:#}");
                1
            }
        },
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "skypanel",
                &mut std::io::stdout(),
            );
            0
        }
        command => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return fail(&e.into()),
            };
            match rt.block_on(dispatch(command)) {
                Ok(()) => 0,
                Err(e) => fail(&e),
            }
        }
    }
}

fn fail(e: &anyhow::Error) -> i32 {
    eprintln!("error: {e:#}");
    1
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    use Command as C;
    match command {
        C::Login(a) => account::login(a).await,
        C::Logout => account::logout(),
        C::Whoami(j) => account::whoami(j).await,
        C::Tokens(j) => account::tokens(j).await,
        C::TokensCreate(a) => account::create_token(a).await,
        C::TokensRevoke(a) => account::revoke_token(a).await,
        C::Apps(a) => apps::list(a).await,
        C::AppsCreate(a) => apps::create(a).await,
        C::AppsInfo(a) => apps::info(a).await,
        C::AppsDestroy(a) => apps::destroy(a).await,
        C::Config(a) => apps::config(a).await,
        C::ConfigGet(a) => apps::config_get(a).await,
        C::ConfigSet(a) => apps::config_set(a).await,
        C::ConfigUnset(a) => apps::config_unset(a).await,
        C::Deploy(a) => releases::deploy(a).await,
        C::Releases(a) => releases::list(a).await,
        C::ReleasesRollback(a) => releases::rollback(a).await,
        C::Ps(a) => releases::ps(a).await,
        C::AppsStats(a) => releases::stats(a).await,
        C::PsScale(a) => releases::scale(a).await,
        C::PsRestart(a) => releases::restart(a).await,
        C::PsStop(a) => releases::stop_start(a, true).await,
        C::PsStart(a) => releases::stop_start(a, false).await,
        C::Checks(a) => releases::checks(a).await,
        C::ChecksSet(a) => releases::checks_set(a).await,
        C::ChecksDisable(a) => releases::checks_disable(a).await,
        C::ChecksHistory(a) => releases::checks_history(a).await,
        C::Builds(a) => builds::list(a).await,
        C::BuildsOutput(a) => builds::output(a).await,
        C::BuildsCancel(a) => builds::cancel(a).await,
        C::BuilderSet(a) => builds::builder_set(a).await,
        C::RepoPurgeCache(a) => builds::purge_cache(a).await,
        C::GitSet(a) => builds::git_set(a).await,
        C::GitRemote(a) => builds::remote(a).await,
        C::Domains(a) => domains::list(a).await,
        C::DomainsAdd(a) => domains::add(a).await,
        C::DomainsRemove(a) => domains::remove(a).await,
        C::Certs(a) => certs::list(a).await,
        C::CertsAdd(a) => certs::add(a).await,
        C::CertsAuto(a) => certs::auto(a).await,
        C::CertsRemove(a) => certs::remove(a).await,
        C::CertsRedirect(a) => certs::redirect(a).await,
        C::Maintenance(a) => domains::maintenance(a).await,
        C::MaintenanceOn(a) => domains::set_maintenance(a, true).await,
        C::MaintenanceOff(a) => domains::set_maintenance(a, false).await,
        C::Logs(a) => logs::logs(a).await,
        C::Orgs(j) => orgs::list(j).await,
        C::OrgsCreate(a) => orgs::create(a).await,
        C::OrgsMembers(a) => orgs::members(a).await,
        C::OrgsMembersAdd(a) => orgs::add(a).await,
        C::OrgsMembersRemove(a) => orgs::remove(a).await,
        C::Billing(a) => billing::billing(a).await,
        C::BillingTransactions(a) => billing::transactions(a).await,
        C::BillingUsage(a) => billing::usage(a).await,
        C::BillingStatement(a) => billing::statement(a).await,
        C::OrgsWebhooks(a) => orgs::webhooks(a).await,
        C::OrgsWebhooksAdd(a) => orgs::webhook_add(a).await,
        C::OrgsWebhooksRemove(a) => orgs::webhook_remove(a).await,
        C::Plans(j) => admin::plans(j).await,
        C::Admin(a) => admin::dispatch(a.command).await,
        C::Daemon(_) | C::Completions { .. } | C::GitCredential { .. } | C::GitHook { .. } => {
            unreachable!("handled before the runtime starts")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_tree_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
