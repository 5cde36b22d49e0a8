//! Black-box tests of the order service through its public HTTP API.

mod health;
mod helpers;
