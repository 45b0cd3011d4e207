//! The integration suite: one test binary. Every test runs the real
//! `skypanel` executable against a real daemon on a temporary data dir.

mod common;

mod authz;
mod bad_input;
mod billing;
mod cases;
mod cli_flow;
mod daemon_life;
mod deploy;
mod logs;
mod monitor;
mod nodes;
mod push;
mod rollout;
mod router;
mod secrets;
mod tls;
