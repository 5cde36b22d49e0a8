//! The client of the external payment gateway (PSP): reqwest with timeouts, a circuit breaker
//! and a retry policy.
//!
//! Retries sit *outside* the breaker: every attempt is one call the breaker sees and judges, so
//! failures are counted as they happen and an open breaker ends the retry loop at once instead of
//! letting retries hammer a PSP that is down. The payment's id is the Idempotency-Key of every
//! attempt, so a retry after a lost answer returns the first charge and never makes a second.

use std::time::Duration;

use reqwest::StatusCode;
use resilience::{BreakerConfig, BreakerError, CircuitBreaker, RetryPolicy};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::{Instrument, Span};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    pub base_url: String,
    pub connect_timeout: Duration,
    /// A call slower than this is abandoned and counts as a failure.
    pub request_timeout: Duration,
    pub breaker: BreakerConfig,
    pub retry: RetryPolicy,
}

impl GatewayConfig {
    /// The contract's breaker and retry policy (SPEC section 5) in front of `base_url`.
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            breaker: BreakerConfig::default(),
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChargeOutcome {
    Captured { charge_id: Uuid },
    Declined { decline_code: String },
}

/// Why a call did not produce an answer the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The breaker is open: the call was not made. Defer it; `retry_after` says when to try.
    /// `calls` were made before it opened, mid-retry: their answers were lost, not their effects.
    #[error("the gateway's circuit breaker is open")]
    Open { retry_after: Duration, calls: u32 },
    /// Every attempt failed (5xx, timeout, connection); the last error is kept.
    #[error("the gateway is unavailable after {attempts} attempt(s): {last}")]
    Unavailable { attempts: u32, last: String },
    /// The gateway refused the request (4xx other than a decline): retrying cannot help.
    #[error("the gateway rejected the request with {status}: {body}")]
    Rejected { status: u16, body: String },
}

impl GatewayError {
    /// Calls that reached (or may have reached) the gateway before this error.
    pub fn calls_made(&self) -> u32 {
        match self {
            Self::Open { calls, .. } => *calls,
            Self::Unavailable { attempts, .. } => *attempts,
            Self::Rejected { .. } => 1,
        }
    }
}

/// One attempt's failure, as the retry loop classifies it.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("{0}")]
    Breaker(BreakerError<CallError>),
    #[error("unexpected {status}: {body}")]
    Rejected { status: u16, body: String },
}

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{0}")]
    Transport(String),
    #[error("{status}: {body}")]
    Server { status: u16, body: String },
}

#[derive(Clone, Debug)]
pub struct GatewayClient {
    http: reqwest::Client,
    config: GatewayConfig,
    breaker: CircuitBreaker,
}

impl GatewayClient {
    pub fn new(config: GatewayConfig) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()?;
        Ok(Self {
            http,
            breaker: CircuitBreaker::new("payment_gateway", config.breaker.clone()),
            config,
        })
    }

    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Charges `amount_cents` for `order_id`, keyed by `payment_id`. A decline is an answer,
    /// not an error. Returns the outcome and how many attempts it took.
    pub async fn charge(
        &self,
        payment_id: Uuid,
        order_id: Uuid,
        amount_cents: i64,
        card_token: &str,
    ) -> Result<(ChargeOutcome, u32), GatewayError> {
        #[derive(Deserialize)]
        struct Captured {
            id: Uuid,
        }
        let body = json!({
            "order_id": order_id,
            "amount_cents": amount_cents,
            "currency": "EUR",
            "card_token": card_token,
        });
        let (status, answer, attempts) = self.post("/v1/charges", payment_id, &body).await?;
        let outcome = match status {
            StatusCode::CREATED => ChargeOutcome::Captured {
                charge_id: serde_json::from_value::<Captured>(answer.clone())
                    .map_err(|_| rejected(status, &answer))?
                    .id,
            },
            StatusCode::PAYMENT_REQUIRED => ChargeOutcome::Declined {
                decline_code: answer["decline_code"]
                    .as_str()
                    .unwrap_or("declined")
                    .to_owned(),
            },
            _ => return Err(rejected(status, &answer)),
        };
        Ok((outcome, attempts))
    }

    /// Refunds `amount_cents` of `charge_id`, keyed by `refund_id`; returns the gateway's id.
    pub async fn refund(
        &self,
        refund_id: Uuid,
        charge_id: Uuid,
        amount_cents: i64,
    ) -> Result<Uuid, GatewayError> {
        let body = json!({"charge_id": charge_id, "amount_cents": amount_cents});
        let (status, answer, _) = self.post("/v1/refunds", refund_id, &body).await?;
        match (status, answer["id"].as_str().map(Uuid::parse_str)) {
            (StatusCode::CREATED, Some(Ok(id))) => Ok(id),
            _ => Err(rejected(status, &answer)),
        }
    }

    /// The captured charges of `order_id` with what is left to refund of each, from the
    /// gateway's audit list: how a payment that gave up learns whether a lost answer was a
    /// capture. One call, through the breaker.
    pub async fn captured_charges(&self, order_id: Uuid) -> Result<Vec<(Uuid, i64)>, GatewayError> {
        #[derive(Deserialize)]
        struct Charge {
            id: Uuid,
            status: String,
            amount_cents: i64,
            refunded_cents: i64,
        }
        let url = format!("{}/v1/charges?order_id={order_id}", self.config.base_url);
        let call = || async {
            let response = self.send("GET", &url, self.http.get(&url)).await?;
            let status = response.status();
            if !status.is_success() {
                return Err(CallError::Server {
                    status: status.as_u16(),
                    body: response.text().await.unwrap_or_default(),
                });
            }
            response
                .json::<Vec<Charge>>()
                .await
                .map_err(|e| CallError::Transport(e.to_string()))
        };
        let charges = self
            .breaker
            .call(call, |result| result.is_err())
            .await
            .map_err(|error| match error {
                BreakerError::Open { retry_after, .. } => GatewayError::Open {
                    retry_after,
                    calls: 0,
                },
                BreakerError::Call(error) => GatewayError::Unavailable {
                    attempts: 1,
                    last: error.to_string(),
                },
            })?;
        Ok(charges
            .into_iter()
            .filter(|charge| {
                charge.status == "captured" && charge.refunded_cents < charge.amount_cents
            })
            .map(|charge| (charge.id, charge.amount_cents - charge.refunded_cents))
            .collect())
    }

    /// Sends one call (each attempt its own) in a client span, until the answer's status. The
    /// request carries the span's `traceparent`, so the gateway's span is its child.
    async fn send(
        &self,
        method: &'static str,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CallError> {
        let path = url
            .strip_prefix(self.config.base_url.as_str())
            .unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        let span = tracing::info_span!(
            "gateway call",
            otel.name = format!("gateway {method} {path}"),
            otel.kind = "client",
            http.request.method = method,
            url.full = url,
            http.response.status_code = tracing::field::Empty,
        );
        async {
            let response = request
                .header("traceparent", platform::telemetry::traceparent())
                .send()
                .await
                .map_err(|e| CallError::Transport(platform::api::Chain(&e).to_string()))?;
            Span::current().record("http.response.status_code", response.status().as_u16());
            Ok(response)
        }
        .instrument(span)
        .await
    }

    /// POSTs with retries; any 2xx or 4xx answer ends the loop.
    async fn post(
        &self,
        path: &str,
        key: Uuid,
        body: &Value,
    ) -> Result<(StatusCode, Value, u32), GatewayError> {
        let url = format!("{}{path}", self.config.base_url);
        let key = key.to_string();
        let mut attempts = 0;
        let result = self
            .config
            .retry
            .run(
                None::<Instant>,
                |_| {
                    attempts += 1;
                    self.attempt(&url, &key, body)
                },
                |error| matches!(error, AttemptError::Breaker(BreakerError::Call(_))),
            )
            .await;
        match result {
            Ok((status, answer)) => Ok((status, answer, attempts)),
            Err(exhausted) => Err(match exhausted.error {
                // Only a failed call is retried, so every attempt before this one was a call.
                AttemptError::Breaker(BreakerError::Open { retry_after, .. }) => {
                    GatewayError::Open {
                        retry_after,
                        calls: exhausted.attempts.saturating_sub(1),
                    }
                }
                AttemptError::Breaker(BreakerError::Call(error)) => GatewayError::Unavailable {
                    attempts: exhausted.attempts,
                    last: error.to_string(),
                },
                AttemptError::Rejected { status, body } => GatewayError::Rejected { status, body },
            }),
        }
    }

    /// One call through the breaker: 5xx, timeouts and connection errors are failures; any
    /// other answer (a 402 decline included) is a success for the breaker.
    async fn attempt(
        &self,
        url: &str,
        key: &str,
        body: &Value,
    ) -> Result<(StatusCode, Value), AttemptError> {
        let call = || async {
            let request = self
                .http
                .post(url)
                .header("Idempotency-Key", key)
                .json(body);
            let response = self.send("POST", url, request).await?;
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if status.is_server_error() {
                return Err(CallError::Server {
                    status: status.as_u16(),
                    body: answer.to_string(),
                });
            }
            Ok((status, answer))
        };
        let (status, answer) = self
            .breaker
            .call(call, |result| result.is_err())
            .await
            .map_err(AttemptError::Breaker)?;
        if status.is_success() || status == StatusCode::PAYMENT_REQUIRED {
            Ok((status, answer))
        } else {
            Err(AttemptError::Rejected {
                status: status.as_u16(),
                body: answer.to_string(),
            })
        }
    }
}

fn rejected(status: StatusCode, answer: &Value) -> GatewayError {
    GatewayError::Rejected {
        status: status.as_u16(),
        body: answer.to_string(),
    }
}
