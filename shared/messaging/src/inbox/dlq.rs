//! Dead letters: a message the consumer gives up on goes to `<group>.dlq` with the error and
//! where it came from in headers, and its partition moves on.

use std::time::Duration;

use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::FutureRecord;
use sha2::{Digest, Sha256};

use super::{Handler, Runtime};

/// The largest payload a dead letter carries as it is; librdkafka's `message.max.bytes`
/// (1,000,000) leaves room beside it for the original and `dlq_*` headers.
pub const DLQ_PAYLOAD_LIMIT: usize = 900_000;

impl<H: Handler> Runtime<H> {
    /// Publishes `message` to the DLQ with the error in headers, retrying until the broker takes
    /// it; returns false if shutdown came first. A payload over `DLQ_PAYLOAD_LIMIT` is replaced
    /// by its size and SHA-256 (header `dlq_truncated`): a message near the size limit plus the
    /// `dlq_*` headers would be refused for ever, and its partition would never move on.
    pub(super) async fn dead_letter(
        &self,
        message: &OwnedMessage,
        error: &str,
        attempts: u32,
    ) -> bool {
        let topic = self.config.dlq_topic();
        let mut headers = dead_letter_headers(message, error, attempts, &self.config.group);
        let payload = match message.payload() {
            Some(payload) if payload.len() > DLQ_PAYLOAD_LIMIT => {
                headers = headers.insert(Header {
                    key: "dlq_truncated",
                    value: Some("true"),
                });
                let digest = serde_json::json!({
                    "truncated": true,
                    "size": payload.len(),
                    "sha256": format!("{:x}", Sha256::digest(payload)),
                });
                Some(std::borrow::Cow::Owned(digest.to_string().into_bytes()))
            }
            payload => payload.map(std::borrow::Cow::Borrowed),
        };
        let mut failures = 0;
        loop {
            let mut record = FutureRecord::to(&topic).headers(headers.clone());
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(payload) = &payload {
                record = record.payload(payload.as_ref());
            }
            match self.producer.send(record, Duration::from_secs(5)).await {
                Ok(_) => {
                    metrics::counter!("dlq_messages_total", "service" => self.config.service.clone(), "topic" => message.topic().to_owned())
                        .increment(1);
                    return true;
                }
                Err((error, _)) => {
                    failures += 1;
                    tracing::warn!(%error, "cannot publish to the DLQ, retrying");
                }
            }
            tokio::select! {
                _ = self.shutdown.wait() => return false,
                _ = tokio::time::sleep(self.config.retry.delay(failures)) => {}
            }
        }
    }
}

/// The original headers plus where the message came from and why it is here.
fn dead_letter_headers(
    message: &OwnedMessage,
    error: &str,
    attempts: u32,
    group: &str,
) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(original) = message.headers() {
        for header in original.iter() {
            headers = headers.insert(Header {
                key: header.key,
                value: header.value,
            });
        }
    }
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    let attempts = attempts.to_string();
    for (key, value) in [
        ("dlq_error", error),
        ("dlq_original_topic", message.topic()),
        ("dlq_original_partition", partition.as_str()),
        ("dlq_original_offset", offset.as_str()),
        ("dlq_attempts", attempts.as_str()),
        ("dlq_consumer_group", group),
    ] {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    headers
}
