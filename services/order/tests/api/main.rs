//! Black-box tests of the order service through its public HTTP API, and of the whole saga with
//! every service running against a real Postgres and broker, all traffic through the proxies.

mod contract;
mod health;
mod orders;
mod saga;
mod system;
