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

/// `Json<T>` whose rejections are our JSON errors. Serde's message names the
/// field and the expected type, never the value that was sent.
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
        let detail = match &r {
            JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
                let text = r.body_text();
                // serde_json repeats string values in some messages; keep only the shape.
                text.split(": invalid value")
                    .next()
                    .unwrap_or(&text)
                    .to_string()
            }
            _ => r.body_text(),
        };
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
