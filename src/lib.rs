//! SkyPanel: a self-hosted platform-as-a-service in one binary. The same
//! executable is the CLI (`cli`) and, as `skypanel daemon`, the control plane
//! (`daemon`). See docs/ARCHITECTURE.md for the code map and invariants.

pub mod acme;
pub mod api;
pub mod artifacts;
pub mod billing;
pub mod build;
pub mod cli;
pub mod crypto;
pub mod daemon;
pub mod docker;
pub mod error;
pub mod events;
pub mod git;
pub mod health;
pub mod init;
#[cfg(test)]
mod invariants;
pub mod jobs;
pub mod logs;
pub mod monitor;
pub mod outbound;
pub mod router;
pub mod runtime;
pub mod server;
pub mod settings;
pub mod store;
pub mod tls;
pub mod units;
pub mod validate;
pub mod webhooks;

use std::io::Write;

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    // Every rustls user (reqwest, instant-acme, the router) uses ring.
    tls::install_default_provider();
    cli::main()
}

/// glibc gives each thread that allocates its own malloc arena (up to 8 per
/// core) and keeps what they freed: about 5 MB of an idle daemon's memory.
/// Two arenas are plenty for a control plane whose hot path (the router)
/// allocates from per-thread caches. The limit is read at process start, so
/// the daemon runs itself again (same pid, same open files) with
/// `MALLOC_ARENA_MAX=2` unless the caller chose a value.
fn few_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("MALLOC_ARENA_MAX", "2")
        .exec();
    // Only reached when exec failed: run on with glibc's defaults.
    eprintln!("skypanel: cannot re-run with MALLOC_ARENA_MAX=2 ({err}); continuing");
}

/// `skypanel daemon`: logs, store, listener, then serve until SIGTERM/SIGINT.
pub(crate) fn daemon_main(args: cli::DaemonArgs) -> anyhow::Result<()> {
    few_malloc_arenas();
    let builder = tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .thread_stack_size(512 * 1024)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let data_dir = args.data_dir.path;
        let store = init::open(&data_dir)?;
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {}: {e} (choose another address with --listen)",
                    args.listen
                )
            })?;
        let bind = |addr: String, flag: &'static str| async move {
            match addr.as_str() {
                "off" | "" => Ok(None),
                a => tokio::net::TcpListener::bind(a).await.map(Some).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot listen on {a} for the router: {e} (choose another address with {flag}, \
                         or {flag} off to run without it)"
                    )
                }),
            }
        };
        let router = server::RouterListeners {
            http: bind(args.http_listen, "--http-listen").await?,
            https: bind(args.https_listen, "--https-listen").await?,
            threads: match args.router_threads {
                0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
                n => n.min(256),
            },
        };
        let addr = listener.local_addr()?;
        println!("skypanel daemon listening on http://{addr}");
        if let Some(r) = &router.http {
            println!("skypanel router listening on http://{}", r.local_addr()?);
        }
        if let Some(r) = &router.https {
            println!("skypanel router listening on https://{}", r.local_addr()?);
        }
        std::io::stdout().flush()?;
        let clock = match args.clock_file {
            Some(f) => billing::Clock::from_file(f),
            None => billing::Clock::system(),
        };
        let opts = server::Options {
            store,
            data_dir,
            listener,
            router,
            clock,
        };
        server::serve(opts, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: finishing in-flight requests"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: finishing in-flight requests"),
    }
}
