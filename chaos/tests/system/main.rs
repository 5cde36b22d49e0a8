//! The whole system in one test process, every participant and the gateway against a real
//! Postgres and broker, all traffic through the proxies: every saga path of SPEC section 3 end
//! to end, and every service's OpenAPI document against the running system.

mod contract;
mod saga;
mod system;
