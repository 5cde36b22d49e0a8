//! Black-box tests of the notification service: events in through the broker, notices out
//! through its HTTP API.

mod health;
mod notices;
