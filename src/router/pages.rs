//! The router's own answers: small plain HTML pages with the right status.

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode, header};

use super::proxy::Body;

fn page(status: StatusCode, title: &str, text: &str) -> Response<Body> {
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:4em auto;max-width:40em\"><h1>{title}</h1><p>{text}</p></body></html>\n"
    );
    let mut r = Response::new(
        Full::new(Bytes::from(html))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

pub fn unknown_host() -> Response<Body> {
    page(
        StatusCode::NOT_FOUND,
        "No such app",
        "No app answers at this address.",
    )
}

pub fn no_backend(app: &str) -> Response<Body> {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Not running",
        &format!("The app {app} has no running web process right now. Try again in a moment."),
    )
}

pub fn maintenance(app: &str) -> Response<Body> {
    let mut r = page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Down for maintenance",
        &format!("The app {app} is down for maintenance. Please come back soon."),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("120"));
    r
}

/// The app's organization is suspended for want of funds: 402.
pub fn suspended(app: &str) -> Response<Body> {
    page(
        StatusCode::PAYMENT_REQUIRED,
        "App suspended",
        &format!(
            "The app {app} is suspended because its account has run out of credit. \
             It comes back as soon as the account is topped up."
        ),
    )
}

pub fn bad_gateway(app: &str) -> Response<Body> {
    page(
        StatusCode::BAD_GATEWAY,
        "Bad gateway",
        &format!("The app {app} could not be reached."),
    )
}

pub fn timeout(app: &str) -> Response<Body> {
    page(
        StatusCode::GATEWAY_TIMEOUT,
        "Gateway timeout",
        &format!("The app {app} did not answer in time."),
    )
}

pub fn bad_request() -> Response<Body> {
    page(
        StatusCode::BAD_REQUEST,
        "Bad request",
        "The request names no host.",
    )
}

/// A permanent redirect that keeps the method (308), to `location`.
pub fn redirect(location: header::HeaderValue) -> Response<Body> {
    let mut r = page(
        StatusCode::PERMANENT_REDIRECT,
        "Moved to HTTPS",
        "This site is served over HTTPS.",
    );
    r.headers_mut().insert(header::LOCATION, location);
    r
}
