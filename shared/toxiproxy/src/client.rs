//! A small async client for the Toxiproxy HTTP API: what the test harness and the chaos suite
//! use, against this server or Shopify's alike.

use serde_json::{Value, json};

use crate::model::{ProxySpec, ToxicSpec};

/// Talks to the Toxiproxy API at `base_url` (e.g. `http://127.0.0.1:8474`).
#[derive(Clone, Debug)]
pub struct Client {
    base_url: String,
    http: reqwest::Client,
}

/// The API answered with an error status, or not at all.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("toxiproxy {method} {path}: {status} {body}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
    #[error("toxiproxy unreachable: {0}")]
    Http(#[from] reqwest::Error),
}

impl Client {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Creates a proxy; a `listen` of `127.0.0.1:0` gets a free port, named in the answer.
    pub async fn create_proxy(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
    ) -> Result<ProxySpec, ClientError> {
        let body = json!({"name": name, "listen": listen, "upstream": upstream});
        self.call(reqwest::Method::POST, "/proxies", Some(body))
            .await
    }

    pub async fn proxy(&self, name: &str) -> Result<ProxySpec, ClientError> {
        self.call(reqwest::Method::GET, &format!("/proxies/{name}"), None)
            .await
    }

    /// Disabling cuts every open connection and refuses new ones; enabling restores the proxy.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<ProxySpec, ClientError> {
        let body = json!({ "enabled": enabled });
        self.call(
            reqwest::Method::POST,
            &format!("/proxies/{name}"),
            Some(body),
        )
        .await
    }

    /// Adds a toxic, e.g. `{"type": "latency", "attributes": {"latency": 300}}`.
    pub async fn add_toxic(&self, proxy: &str, toxic: Value) -> Result<ToxicSpec, ClientError> {
        self.call(
            reqwest::Method::POST,
            &format!("/proxies/{proxy}/toxics"),
            Some(toxic),
        )
        .await
    }

    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ClientError> {
        let path = format!("/proxies/{proxy}/toxics/{toxic}");
        self.call::<Value>(reqwest::Method::DELETE, &path, None)
            .await
            .map(drop)
    }

    /// Enables every proxy and removes every toxic.
    pub async fn reset(&self) -> Result<(), ClientError> {
        self.call::<Value>(reqwest::Method::POST, "/reset", None)
            .await
            .map(drop)
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let method_name = match method {
            reqwest::Method::GET => "GET",
            reqwest::Method::DELETE => "DELETE",
            _ => "POST",
        };
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            return Err(ClientError::Status {
                method: method_name,
                path: path.to_owned(),
                status: status.as_u16(),
                body: response.text().await.unwrap_or_default(),
            });
        }
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(
                serde_json::from_value(Value::Null).map_err(|_| ClientError::Status {
                    method: method_name,
                    path: path.to_owned(),
                    status: 204,
                    body: String::new(),
                })?,
            );
        }
        Ok(response.json().await?)
    }
}
