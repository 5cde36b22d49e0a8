//! Black-box tests of the order service through its public HTTP API. The saga across every
//! service is tested in chaos/tests/system.

mod health;
mod orders;
