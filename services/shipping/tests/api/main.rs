//! Black-box tests of the shipping service through its public HTTP API.

mod health;
mod shipments;
