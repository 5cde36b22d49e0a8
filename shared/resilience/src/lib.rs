//! Calling something that fails: a circuit breaker that stops calling it while it is down, and a
//! retry policy for the failures worth retrying.
//!
//! Both read time from `tokio::time`, so tests run them on paused time.

pub mod breaker;
pub mod retry;

pub use breaker::{BreakerConfig, BreakerError, CircuitBreaker, State};
pub use retry::RetryPolicy;
