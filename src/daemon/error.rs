//! How errors leave the daemon: one status per error kind, a JSON body.

use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::api::ErrorBody;
use crate::error::Error;

pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

pub fn status(e: &Error) -> StatusCode {
    match e {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Suspended(_) => StatusCode::PAYMENT_REQUIRED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status(&self.0);
        if status.is_server_error() {
            tracing::error!(error = %self.0, "request failed");
        }
        let body = ErrorBody {
            error: self.0.to_string(),
            code: self.0.code().to_string(),
        };
        (status, axum::Json(body)).into_response()
    }
}

/// Serde names fields in backticks and repeats string values in double quotes
/// (`invalid type: string "…"`); the values may be secrets, so they go.
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        if c == '"' {
            out.push_str(if inside { "…\"" } else { "\"" });
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// `Json<T>` whose rejections are our JSON errors, with no value of the body
/// repeated in them.
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Body(v))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let detail = redact_quoted(&r.body_text());
        ApiError(Error::Invalid(format!(
            "the request body is not what this endpoint takes: {detail}"
        )))
    }
}

pub async fn not_found() -> ApiError {
    ApiError(Error::NotFound(
        "no such API endpoint: is the CLI newer than the daemon?".into(),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_values_are_redacted() {
        let t = super::redact_quoted(
            r#"max_replicas: invalid type: string "hunter2", expected i64 at line 1"#,
        );
        assert_eq!(
            t,
            r#"max_replicas: invalid type: string "…", expected i64 at line 1"#
        );
    }
}
