//! The HTTP error contract every service keeps (SPEC section 3): errors are
//! `{"error": "<code>", "message": "...", "field": "<path>"?}`, bad input is a 4xx naming the
//! field, and a 5xx body says nothing internal (its cause is logged once, when the response is
//! made).

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    /// What went wrong, for programs: `invalid_field`, `not_found`, `unavailable`, ...
    #[serde(rename = "error")]
    #[schema(value_type = String, example = "invalid_field")]
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The field, parameter or header at fault (`lines[0].quantity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What the log says of a 5xx, never the client: logged once, when the response is made.
    #[serde(skip)]
    #[schema(ignore)]
    cause: Option<String>,
}

/// The most of a message an error body carries. Messages may quote client text (serde's do),
/// and an error must not echo a megabyte back.
const MESSAGE_LIMIT: usize = 200;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MESSAGE_LIMIT {
            let mut end = MESSAGE_LIMIT;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        Self {
            status,
            code,
            message,
            field: None,
            cause: None,
        }
    }

    /// 422: `field` holds a value the service cannot accept.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.chars().take(MESSAGE_LIMIT).collect());
        self
    }

    /// 500 for what cannot happen unless the code is wrong, logging `what`; the client learns
    /// nothing internal.
    pub fn bug(what: &str) -> Self {
        Self::internal_because(what.to_owned())
    }

    /// 500, logging `error` with its cause chain; the client learns nothing internal.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        Self::internal_because(Chain(error).to_string())
    }

    fn internal_because(cause: String) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        );
        error.cause = Some(cause);
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            if self.status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::warn!(cause, "request refused");
            } else {
                tracing::error!(cause, "request failed");
            }
        }
        (self.status, axum::Json(&self)).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    /// The database being away is a 503 the client may retry; anything else is our bug.
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                let mut unavailable = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service cannot reach its database; retry later",
                );
                unavailable.cause = Some(format!("database unavailable: {}", Chain(&error)));
                unavailable
            }
            _ => Self::internal(&error),
        }
    }
}

/// The answer to `GET /<things>/{id}`: the row `query` selects for `id` (its `$1`), or 404
/// `no such <thing>` when there is none. An id that is not a UUID names no row either.
pub async fn one_by_id<T>(
    pool: &sqlx::PgPool,
    query: &'static str,
    id: &str,
    thing: &str,
) -> Result<axum::Json<T>, ApiError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let not_found = || ApiError::not_found(format!("no such {thing}"));
    let id = uuid::Uuid::parse_str(id).map_err(|_| not_found())?;
    sqlx::query_as(query)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .map(axum::Json)
        .ok_or_else(not_found)
}

/// An error and its sources, joined by `: ` (`Chain(&error).to_string()`).
#[derive(Debug)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// A JSON body whose rejections keep the error contract: 415 for another content type, 413 over
/// the body limit, 400 for malformed JSON, 422 naming the field for JSON of the wrong shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError::new(rejection.status(), "invalid_body", rejection.body_text())
            })?;
        parse(&bytes).map(JsonBody)
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {error}"),
        )
    })?;
    from_value(value)
}

/// Deserializes `value` into `T`, naming the offending field on failure (422). Text with
/// control characters (NUL, ESC, ...) is refused before anything reads it: Postgres rejects a
/// NUL in text, and a log or a terminal should never receive the others from a client.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if let Some(field) = control_characters(&value, String::new()) {
        return Err(no_control_characters(&field));
    }
    serde_path_to_error::deserialize(value).map_err(|error| path_error(&error))
}

/// The path (`lines[0].sku`, as serde_path_to_error writes it) of the first string or key that
/// holds a control character.
fn control_characters(value: &serde_json::Value, path: String) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(text) => has_control(text).then_some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| control_characters(item, format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if has_control(key) {
                Some(join(&key.escape_debug().to_string()))
            } else {
                control_characters(item, join(key))
            }
        }),
        _ => None,
    }
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

fn no_control_characters(field: &str) -> ApiError {
    ApiError::invalid(
        if field.is_empty() { "." } else { field },
        "must not contain control characters",
    )
}

/// `axum::extract::Path` keeping the error contract: a 400 for a segment that does not parse, a
/// 422 naming the parameter for one with control characters (`/products/%00/stock`).
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::new(rejection.status(), "invalid_path", rejection.body_text())
            })?;
        if let Some((name, _)) = raw.iter().find(|(_, value)| has_control(value)) {
            return Err(no_control_characters(name));
        }
        axum::extract::Path::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection| {
                ApiError::new(rejection.status(), "invalid_path", rejection.body_text())
            })
    }
}

/// `axum::extract::Query` keeping the error contract: 400 `invalid_query` when the query string
/// does not parse, 422 naming the parameter that holds control characters.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).unwrap_or_default();
        if let Some((name, _)) = pairs.iter().find(|(_, value)| has_control(value)) {
            return Err(no_control_characters(name));
        }
        axum::extract::Query::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|rejection| {
                ApiError::new(rejection.status(), "invalid_query", rejection.body_text())
            })
    }
}

fn path_error(error: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = error.inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {inner}"),
        );
    }
    let message = inner.to_string();
    // serde reports a missing field at its parent's path, naming it in the message.
    let mut field = error.path().to_string();
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        field = if field == "." {
            missing.to_owned()
        } else {
            format!("{field}.{missing}")
        };
    }
    ApiError::invalid(&field, message)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Order {
        lines: Vec<Line>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Line {
        sku: String,
        quantity: i64,
    }

    #[test]
    fn errors_name_the_field_that_is_wrong_or_missing() {
        let wrong = parse::<Order>(br#"{"lines": [{"sku": "a", "quantity": "x"}]}"#).unwrap_err();
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(wrong.field.as_deref(), Some("lines[0].quantity"));

        let missing = parse::<Order>(br#"{"lines": [{"sku": "a"}]}"#).unwrap_err();
        assert_eq!(missing.field.as_deref(), Some("lines[0].quantity"));

        let top = parse::<Order>(b"{}").unwrap_err();
        assert_eq!(top.field.as_deref(), Some("lines"));

        let malformed = parse::<Order>(b"{\"lines\": [").unwrap_err();
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert_eq!(malformed.code, "malformed_json");
    }

    #[test]
    fn text_with_control_characters_is_refused_naming_its_field() {
        for (body, field) in [
            (
                r#"{"lines": [{"sku": "a\u0000", "quantity": 1}]}"#,
                "lines[0].sku",
            ),
            (
                r#"{"lines": [{"sku": "a", "quantity": 1, "x": "\u001b[31m"}]}"#,
                "lines[0].x",
            ),
            (r#"{"lines": [], "\u0007": 1}"#, "\\u{7}"),
        ] {
            let error = parse::<Order>(body.as_bytes()).unwrap_err();
            assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(error.field.as_deref(), Some(field), "{body}");
        }
        parse::<Order>(r#"{"lines": [{"sku": "é ✓", "quantity": 1}]}"#.as_bytes()).unwrap();
    }

    #[test]
    fn messages_quote_at_most_a_short_prefix_of_client_text() {
        let long = "x".repeat(100_000);
        let error = parse::<Order>(format!(r#"{{"lines": "{long}"}}"#).as_bytes()).unwrap_err();
        assert!(error.message.len() < 300, "{}", error.message.len());
        assert_eq!(error.field.as_deref(), Some("lines"));
    }
}
