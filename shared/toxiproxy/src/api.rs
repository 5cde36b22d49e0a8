//! The Toxiproxy HTTP API: routes, status codes and error bodies as Toxiproxy 2.x serves them.
//! Errors are `{"error": "<message>", "status": <code>}`. Bodies are parsed by hand so that a
//! malformed one gets Toxiproxy's `400 bad request body` rather than a framework's rejection.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use crate::model::ProxySpec;
use crate::registry::{Error, Registry};

/// The Toxiproxy API over `registry`.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/reset", post(reset))
        .route("/populate", post(populate))
        .route("/proxies", get(list_proxies).post(create_proxy))
        .route(
            "/proxies/{proxy}",
            get(get_proxy)
                .post(update_proxy)
                .patch(update_proxy)
                .delete(delete_proxy),
        )
        .route(
            "/proxies/{proxy}/toxics",
            get(list_toxics).post(create_toxic),
        )
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(get_toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(delete_toxic),
        )
        .with_state(registry)
}

type ApiResult = Result<Response, ApiError>;

struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::ProxyNotFound | Error::ToxicNotFound => StatusCode::NOT_FOUND,
            Error::ProxyExists | Error::ToxicExists | Error::Listen { .. } => StatusCode::CONFLICT,
            Error::MissingField(_) | Error::BadBody | Error::Toxic(_) => StatusCode::BAD_REQUEST,
            Error::ProxyTaskGone(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %self.0, "toxiproxy request failed");
        }
        let body = json!({ "error": self.0.to_string(), "status": status.as_u16() });
        (status, Json(body)).into_response()
    }
}

/// Reads a JSON body; an empty body counts as `{}` (clients POST `/reset` with none).
fn json_body(bytes: &Bytes) -> Result<Value, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|_| Error::BadBody)
}

fn proxy_body(value: Value) -> Result<ProxySpec, Error> {
    let spec: ProxySpec = serde_json::from_value(value).map_err(|error| {
        for field in ["name", "listen", "upstream"] {
            if error
                .to_string()
                .contains(&format!("missing field `{field}`"))
            {
                return Error::MissingField(field);
            }
        }
        Error::BadBody
    })?;
    Ok(spec)
}

async fn version() -> Json<Value> {
    Json(json!({ "version": concat!(env!("CARGO_PKG_VERSION"), "-noxious") }))
}

async fn reset(State(registry): State<Registry>) -> ApiResult {
    registry.reset().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn populate(State(registry): State<Registry>, body: Bytes) -> ApiResult {
    // Toxiproxy takes a bare array; `{"proxies": [...]}` is accepted too.
    let value = match json_body(&body)? {
        Value::Object(mut object) => object.remove("proxies").ok_or(Error::BadBody)?,
        other => other,
    };
    let Value::Array(items) = value else {
        return Err(Error::BadBody.into());
    };
    let specs = items
        .into_iter()
        .map(proxy_body)
        .collect::<Result<Vec<_>, _>>()?;
    let proxies = registry.populate(specs).await?;
    Ok((StatusCode::CREATED, Json(json!({ "proxies": proxies }))).into_response())
}

async fn list_proxies(State(registry): State<Registry>) -> ApiResult {
    Ok(Json(registry.list().await).into_response())
}

async fn create_proxy(State(registry): State<Registry>, body: Bytes) -> ApiResult {
    let spec = proxy_body(json_body(&body)?)?;
    let created = registry.create(spec).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn get_proxy(State(registry): State<Registry>, Path(proxy): Path<String>) -> ApiResult {
    Ok(Json(registry.get(&proxy).await?).into_response())
}

async fn update_proxy(
    State(registry): State<Registry>,
    Path(proxy): Path<String>,
    body: Bytes,
) -> ApiResult {
    let updated = registry.update(&proxy, &json_body(&body)?).await?;
    Ok(Json(updated).into_response())
}

async fn delete_proxy(State(registry): State<Registry>, Path(proxy): Path<String>) -> ApiResult {
    registry.delete(&proxy).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_toxics(State(registry): State<Registry>, Path(proxy): Path<String>) -> ApiResult {
    Ok(Json(registry.toxics(&proxy).await?).into_response())
}

async fn create_toxic(
    State(registry): State<Registry>,
    Path(proxy): Path<String>,
    body: Bytes,
) -> ApiResult {
    let toxic = registry.add_toxic(&proxy, &json_body(&body)?).await?;
    Ok(Json(toxic).into_response())
}

async fn get_toxic(
    State(registry): State<Registry>,
    Path((proxy, toxic)): Path<(String, String)>,
) -> ApiResult {
    Ok(Json(registry.toxic(&proxy, &toxic).await?).into_response())
}

async fn update_toxic(
    State(registry): State<Registry>,
    Path((proxy, toxic)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let updated = registry
        .update_toxic(&proxy, &toxic, &json_body(&body)?)
        .await?;
    Ok(Json(updated).into_response())
}

async fn delete_toxic(
    State(registry): State<Registry>,
    Path((proxy, toxic)): Path<(String, String)>,
) -> ApiResult {
    registry.remove_toxic(&proxy, &toxic).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
