//! A small async client for the Toxiproxy HTTP API: what the test harness and the chaos suite
//! use, against this server or Shopify's alike.

use reqwest::Method;
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
        Ok(self
            .send(Method::POST, "/proxies", Some(body))
            .await?
            .json()
            .await?)
    }

    pub async fn proxy(&self, name: &str) -> Result<ProxySpec, ClientError> {
        let path = format!("/proxies/{name}");
        Ok(self.send(Method::GET, &path, None).await?.json().await?)
    }

    /// Disabling cuts every open connection and refuses new ones; enabling restores the proxy.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<ProxySpec, ClientError> {
        let path = format!("/proxies/{name}");
        let body = json!({ "enabled": enabled });
        Ok(self
            .send(Method::POST, &path, Some(body))
            .await?
            .json()
            .await?)
    }

    /// Adds a toxic, e.g. `{"type": "latency", "attributes": {"latency": 300}}`.
    pub async fn add_toxic(&self, proxy: &str, toxic: Value) -> Result<ToxicSpec, ClientError> {
        let path = format!("/proxies/{proxy}/toxics");
        Ok(self
            .send(Method::POST, &path, Some(toxic))
            .await?
            .json()
            .await?)
    }

    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ClientError> {
        let path = format!("/proxies/{proxy}/toxics/{toxic}");
        self.send(Method::DELETE, &path, None).await.map(drop)
    }

    /// Enables every proxy and removes every toxic.
    pub async fn reset(&self) -> Result<(), ClientError> {
        self.send(Method::POST, "/reset", None).await.map(drop)
    }

    /// Sends a request; an error status becomes `ClientError::Status` with the body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<reqwest::Response, ClientError> {
        let method_name = match method {
            Method::GET => "GET",
            Method::DELETE => "DELETE",
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
        if status.is_success() {
            return Ok(response);
        }
        Err(ClientError::Status {
            method: method_name,
            path: path.to_owned(),
            status: status.as_u16(),
            body: response.text().await.unwrap_or_default(),
        })
    }
}
