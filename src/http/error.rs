//! `ApiError`: the one place where errors become a status and an `{"error": ...}` body.
//! Causes of 5xx responses are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::accounts::AccountsError;
use crate::media::IngestError;
use crate::service::ServiceError;
use crate::store::CommandError;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Missing or invalid API token")]
    Unauthorized,
    #[error("Insufficient scope")]
    Forbidden,
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    BadRequest(String),
    /// A field refused: `{"error": "<field>: <message>", "fields": {"<field>": ["<message>"]}}`.
    #[error("{field}: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    TooLarge(String),
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("The file is being changed by many requests at once; try again")]
    Busy,
    #[error("Internal server error")]
    Internal(String),
    /// A 500 whose message says what failed (seed 004's upload errors).
    #[error("{message}")]
    Failed {
        message: &'static str,
        cause: String,
    },
}

impl ApiError {
    pub fn media_not_found() -> Self {
        ApiError::NotFound("Media not found")
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        ApiError::Internal(error.to_string())
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) | ApiError::Field { .. } => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) | ApiError::Failed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Internal(cause) | ApiError::Failed { cause, .. } => {
                tracing::error!(%cause, "request failed");
                json!({ "error": self.to_string() })
            }
            ApiError::Field { field, message } => {
                json!({ "error": self.to_string(), "fields": { *field: [message] } })
            }
            _ => json!({ "error": self.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Token realm=\"mediastore\""),
            );
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound => ApiError::media_not_found(),
            ServiceError::BadImage(why) => ApiError::BadRequest(format!("Invalid image: {why}")),
            ServiceError::Command(CommandError::Conflict) => ApiError::Busy,
            other => ApiError::internal(other),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Empty
            | IngestError::Refused(_)
            | IngestError::BadImage(_)
            | IngestError::Interrupted(_) => ApiError::BadRequest(error.to_string()),
            IngestError::TooLarge { .. } | IngestError::BodyTooLarge => {
                ApiError::TooLarge(error.to_string())
            }
            IngestError::Storage(cause) => ApiError::internal(cause),
        }
    }
}

impl From<AccountsError> for ApiError {
    fn from(error: AccountsError) -> Self {
        ApiError::internal(error)
    }
}
