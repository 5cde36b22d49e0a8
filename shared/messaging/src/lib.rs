//! The messaging machinery every service shares, so a service only says what its events mean:
//!
//! - `envelope`: CloudEvents 1.0 over Kafka's binary binding;
//! - `outbox`: `Outbox::enqueue` inside the business transaction, and the migrations;
//! - `relay`: publishes the outbox, one leader per service;
//! - `inbox`: the idempotent consumer runtime with retries and a DLQ;
//! - `admin` and `cli`: replay, DLQ listing and re-drive.

pub mod admin;
pub mod cli;
pub mod envelope;
pub mod inbox;
pub mod kafka;
pub mod outbox;
pub mod relay;
pub mod service;

pub use envelope::{DecodeError, Event};
pub use inbox::{ConsumerConfig, Handler, HandlerError};
pub use outbox::{Outbox, migrate};
pub use relay::{Relay, RelayConfig};
pub use service::Messaging;
