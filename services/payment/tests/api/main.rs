//! Black-box tests of the payment service through its public HTTP API.

mod health;
mod helpers;
