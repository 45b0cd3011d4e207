//! Every route of the API, declared once: the router is built from this
//! table and `ROUTES` (which the authorization matrix test walks) is made
//! from the same lines, so neither can miss a route.

use axum::Router;

use super::*;

/// The axum method router for one method.
macro_rules! on {
    (GET, $h:path) => {
        axum::routing::get($h)
    };
    (POST, $h:path) => {
        axum::routing::post($h)
    };
    (PUT, $h:path) => {
        axum::routing::put($h)
    };
    (PATCH, $h:path) => {
        axum::routing::patch($h)
    };
    (DELETE, $h:path) => {
        axum::routing::delete($h)
    };
}

macro_rules! routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        /// Every route the API serves, as (method, path).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// The API's routes, from the same table.
        pub(super) fn api_routes() -> Router<State> {
            Router::new()$(.route($path, on!($method, $handler)))*
        }
    };
}

routes! {
    GET "/api/health" => health;
    GET "/metrics" => metrics::metrics;
    GET "/api/v1/whoami" => access::whoami;
    GET "/api/v1/tokens" => access::tokens;
    POST "/api/v1/tokens" => access::create_token;
    DELETE "/api/v1/tokens/{id}" => access::revoke_token;
    GET "/api/v1/orgs" => orgs::list;
    POST "/api/v1/orgs" => orgs::create;
    GET "/api/v1/orgs/{org}/members" => orgs::members;
    POST "/api/v1/orgs/{org}/members" => orgs::add_member;
    DELETE "/api/v1/orgs/{org}/members/{email}" => orgs::remove_member;
    GET "/api/v1/orgs/{org}/webhooks" => orgs::webhooks;
    POST "/api/v1/orgs/{org}/webhooks" => orgs::add_webhook;
    DELETE "/api/v1/orgs/{org}/webhooks/{id}" => orgs::remove_webhook;
    GET "/api/v1/orgs/{org}/billing" => billing::billing;
    GET "/api/v1/orgs/{org}/billing/transactions" => billing::transactions;
    GET "/api/v1/orgs/{org}/billing/usage" => billing::usage;
    GET "/api/v1/orgs/{org}/billing/statement" => billing::statement;
    GET "/api/v1/apps" => apps::list;
    POST "/api/v1/apps" => apps::create;
    GET "/api/v1/apps/{app}" => apps::info;
    DELETE "/api/v1/apps/{app}" => apps::destroy;
    GET "/api/v1/apps/{app}/config" => apps::config;
    PATCH "/api/v1/apps/{app}/config" => apps::update_config;
    GET "/api/v1/apps/{app}/releases" => releases::list;
    POST "/api/v1/apps/{app}/releases" => releases::deploy;
    GET "/api/v1/apps/{app}/releases/{version}" => releases::show;
    POST "/api/v1/apps/{app}/rollback" => releases::rollback;
    GET "/api/v1/apps/{app}/ps" => releases::ps;
    GET "/api/v1/apps/{app}/stats" => releases::stats;
    PATCH "/api/v1/apps/{app}/formation" => releases::scale;
    POST "/api/v1/apps/{app}/restart" => releases::restart;
    POST "/api/v1/apps/{app}/stop" => releases::stop;
    POST "/api/v1/apps/{app}/start" => releases::start;
    GET "/api/v1/apps/{app}/checks" => releases::checks;
    PUT "/api/v1/apps/{app}/checks" => releases::set_checks;
    GET "/api/v1/apps/{app}/checks/history" => releases::checks_history;
    GET "/api/v1/apps/{app}/builds" => git::builds;
    GET "/api/v1/apps/{app}/builds/{build}/output" => git::build_output;
    POST "/api/v1/apps/{app}/builds/cancel" => git::cancel;
    GET "/api/v1/apps/{app}/build-settings" => git::build_settings;
    PATCH "/api/v1/apps/{app}/build-settings" => git::update_build_settings;
    DELETE "/api/v1/apps/{app}/build-cache" => git::purge_cache;
    GET "/api/v1/apps/{app}/domains" => domains::list;
    POST "/api/v1/apps/{app}/domains" => domains::add;
    DELETE "/api/v1/apps/{app}/domains/{domain}" => domains::remove;
    GET "/api/v1/apps/{app}/certs" => certs::list;
    POST "/api/v1/apps/{app}/certs" => certs::add;
    POST "/api/v1/apps/{app}/certs/auto" => certs::auto;
    DELETE "/api/v1/apps/{app}/certs/{hostname}" => certs::remove;
    PUT "/api/v1/apps/{app}/https-redirect" => certs::set_redirect;
    GET "/api/v1/apps/{app}/logs" => logs::logs;
    GET "/api/v1/apps/{app}/maintenance" => domains::maintenance;
    PUT "/api/v1/apps/{app}/maintenance" => domains::set_maintenance;
    GET "/api/v1/plans" => admin::plans;
    GET "/api/v1/admin/users" => admin::users;
    POST "/api/v1/admin/users" => admin::create_user;
    POST "/api/v1/admin/plans" => admin::create_plan;
    PATCH "/api/v1/admin/plans/{plan}" => admin::update_plan;
    DELETE "/api/v1/admin/plans/{plan}" => admin::remove_plan;
    GET "/api/v1/admin/orgs" => billing::all;
    POST "/api/v1/admin/orgs/{org}/credits" => billing::credit;
    POST "/api/v1/admin/orgs/{org}/debits" => billing::debit;
    POST "/api/v1/admin/billing/run" => billing::run;
    GET "/api/v1/admin/nodes" => nodes::list;
    GET "/api/v1/admin/nodes/{node}" => nodes::info;
    POST "/api/v1/admin/nodes/{node}/drain" => nodes::drain;
    POST "/api/v1/admin/nodes/{node}/activate" => nodes::activate;
    DELETE "/api/v1/admin/nodes/{node}" => nodes::remove;
    GET "/api/v1/admin/join-command" => nodes::join_command;
    GET "/api/v1/admin/events" => nodes::events;
    POST "/api/v1/admin/reconcile" => nodes::reconcile;
    GET "/api/v1/admin/settings" => admin::settings;
    GET "/api/v1/admin/settings/{key}" => admin::setting;
    PUT "/api/v1/admin/settings/{key}" => admin::set_setting;
    DELETE "/api/v1/admin/settings/{key}" => admin::unset_setting;
}
