//! Black-box tests of the payment-gateway service through its public HTTP API.

mod health;
mod helpers;
