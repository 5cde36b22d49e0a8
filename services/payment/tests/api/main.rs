//! Black-box tests of the payment service through its public HTTP API, and of its gateway client
//! against the real simulator through the `payment_gateway` proxy.

mod gateway;
mod health;
