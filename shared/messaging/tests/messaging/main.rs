//! Messaging against a real Postgres and a real Kafka-protocol broker, both through proxies.

mod helpers;
mod inbox;
mod relay;
mod replay;
mod supervision;
