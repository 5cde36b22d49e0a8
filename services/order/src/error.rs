//! What can go wrong in the order API, as the domain says it. Each error becomes its HTTP answer
//! at the edge (`IntoResponse`), where a 5xx's cause is logged once.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform::api::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request could not be read as an order request (JSON, types, unknown fields).
    #[error("{}", .0.message)]
    Request(ApiError),
    /// A field holds a value no order can have.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("Idempotency-Key must be 1 to 255 visible characters")]
    InvalidKey,
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
    #[error("no such order")]
    NotFound,
    /// The order an Idempotency-Key placed is gone: orders are never deleted, so a bug.
    #[error("the order of an Idempotency-Key is missing")]
    KeyedOrderMissing,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<ApiError> for Error {
    fn from(answer: ApiError) -> Self {
        Self::Request(answer)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let answer = match self {
            Self::Request(answer) => answer,
            Self::Invalid { field, message } => ApiError::invalid(&field, message),
            Self::InvalidKey => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key", message)
                    .with_field("Idempotency-Key")
            }
            Self::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                message,
            )
            .with_field("Idempotency-Key"),
            Self::NotFound => ApiError::not_found(message),
            Self::KeyedOrderMissing => ApiError::bug(&message),
            Self::Database(error) => error.into(),
        };
        answer.into_response()
    }
}
