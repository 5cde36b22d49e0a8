//! The envelope: CloudEvents 1.0 in the Kafka *binary* content mode. The payload is the event's
//! JSON data; the attributes travel as headers (`ce_id`, `ce_type`, `ce_source`, `ce_time`,
//! `ce_specversion`, `ce_subject`, `content-type`) next to a W3C `traceparent`. The key is the
//! aggregate (order) id.
//!
//! Any CloudEvents SDK reads these messages. We map the headers ourselves: the SDK's rdkafka
//! binding pins an older rdkafka and needs cmake, and the mapping is this file.

use chrono::{DateTime, Utc};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub const SPEC_VERSION: &str = "1.0";
pub const CONTENT_TYPE: &str = "application/json";

/// One event as it travels: the CloudEvents attributes and the JSON data.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: Uuid,
    /// Versioned type, `<aggregate>.<what happened>.v<N>`, e.g. `order.placed.v1`.
    pub event_type: String,
    /// The service that emitted it, e.g. `/order`.
    pub source: String,
    pub time: DateTime<Utc>,
    /// The aggregate (order) id; also the Kafka key.
    pub subject: String,
    pub data: serde_json::Value,
    /// The W3C trace context of the span that wrote it (empty if the producer sent none).
    pub traceparent: String,
}

/// Why a message is not an event we can read. Such a message is poison: it goes to the DLQ.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("header `{0}` is missing")]
    MissingHeader(&'static str),
    #[error("header `{header}` is invalid: {reason}")]
    InvalidHeader {
        header: &'static str,
        reason: String,
    },
    #[error("the message has no payload")]
    MissingPayload,
    #[error("the payload is not JSON: {0}")]
    InvalidPayload(String),
}

impl Event {
    /// The Kafka headers of this event (binary content mode).
    pub fn headers(&self) -> OwnedHeaders {
        binary_headers(
            &self.id.to_string(),
            &self.event_type,
            &self.source,
            &self.time.to_rfc3339(),
            &self.subject,
            &self.traceparent,
        )
    }

    /// Reads an event from a consumed message; never panics on what a producer sent.
    pub fn decode(message: &impl Message) -> Result<Self, DecodeError> {
        let headers = message.headers();
        let get = |name: &'static str| -> Result<&str, DecodeError> {
            let value = headers
                .and_then(|headers| headers.iter().find(|h| h.key == name))
                .and_then(|h| h.value)
                .ok_or(DecodeError::MissingHeader(name))?;
            std::str::from_utf8(value).map_err(|e| DecodeError::InvalidHeader {
                header: name,
                reason: e.to_string(),
            })
        };
        let invalid = |header: &'static str| {
            move |e: &dyn std::fmt::Display| DecodeError::InvalidHeader {
                header,
                reason: e.to_string(),
            }
        };

        let spec_version = get("ce_specversion")?;
        if spec_version != SPEC_VERSION {
            return Err(invalid("ce_specversion")(&format!(
                "unsupported version {spec_version}"
            )));
        }
        let id = Uuid::parse_str(get("ce_id")?).map_err(|e| invalid("ce_id")(&e))?;
        let time = DateTime::parse_from_rfc3339(get("ce_time")?)
            .map_err(|e| invalid("ce_time")(&e))?
            .with_timezone(&Utc);
        let payload = message.payload().ok_or(DecodeError::MissingPayload)?;
        let data = serde_json::from_slice(payload)
            .map_err(|e| DecodeError::InvalidPayload(e.to_string()))?;
        // Optional: a consumer ignores a missing or malformed one and starts a new trace.
        let traceparent = get("traceparent").unwrap_or_default().to_owned();

        Ok(Self {
            id,
            event_type: get("ce_type")?.to_owned(),
            source: get("ce_source")?.to_owned(),
            time,
            subject: get("ce_subject")?.to_owned(),
            data,
            traceparent,
        })
    }

    /// The data as the handler's type; a mismatch is a validation error (poison).
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }
}

/// The headers of the binary content mode, from the attributes as text (the relay has them so).
pub(crate) fn binary_headers(
    id: &str,
    event_type: &str,
    source: &str,
    time: &str,
    subject: &str,
    traceparent: &str,
) -> OwnedHeaders {
    OwnedHeaders::new_with_capacity(8)
        .insert(header("ce_id", id))
        .insert(header("ce_type", event_type))
        .insert(header("ce_source", source))
        .insert(header("ce_time", time))
        .insert(header("ce_specversion", SPEC_VERSION))
        .insert(header("ce_subject", subject))
        .insert(header("content-type", CONTENT_TYPE))
        .insert(header("traceparent", traceparent))
}

pub(crate) fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{OwnedMessage, Timestamp};

    use super::*;

    fn event() -> Event {
        Event {
            id: Uuid::now_v7(),
            event_type: "order.placed.v1".into(),
            source: "/order".into(),
            time: DateTime::parse_from_rfc3339("2026-11-23T10:00:00.123Z")
                .unwrap()
                .with_timezone(&Utc),
            subject: Uuid::now_v7().to_string(),
            data: serde_json::json!({"total_cents": 1200}),
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        }
    }

    fn message(payload: Option<&[u8]>, headers: Option<OwnedHeaders>) -> OwnedMessage {
        OwnedMessage::new(
            payload.map(<[u8]>::to_vec),
            Some(b"key".to_vec()),
            "order.events".into(),
            Timestamp::NotAvailable,
            0,
            0,
            headers,
        )
    }

    #[test]
    fn an_event_survives_the_round_trip_through_headers_and_payload() {
        let event = event();
        let payload = serde_json::to_vec(&event.data).unwrap();

        let decoded = Event::decode(&message(Some(&payload), Some(event.headers()))).unwrap();

        assert_eq!(decoded, event);
    }

    #[test]
    fn a_message_without_headers_is_a_typed_error() {
        let error = Event::decode(&message(Some(b"{}"), None)).unwrap_err();

        assert_eq!(error, DecodeError::MissingHeader("ce_specversion"));
    }

    #[test]
    fn garbage_payload_and_bad_ids_are_typed_errors_not_panics() {
        let event = event();
        let bad_payload = Event::decode(&message(Some(b"\xff{not json"), Some(event.headers())));
        assert!(matches!(bad_payload, Err(DecodeError::InvalidPayload(_))));

        let headers = OwnedHeaders::new()
            .insert(header("ce_specversion", "1.0"))
            .insert(header("ce_id", "not-a-uuid"));
        let bad_id = Event::decode(&message(Some(b"{}"), Some(headers)));
        assert!(matches!(
            bad_id,
            Err(DecodeError::InvalidHeader {
                header: "ce_id",
                ..
            })
        ));

        let no_payload = Event::decode(&message(None, Some(event.headers())));
        assert_eq!(no_payload, Err(DecodeError::MissingPayload));
    }
}
