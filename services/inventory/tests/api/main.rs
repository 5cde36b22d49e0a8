//! Black-box tests of the inventory service through its public HTTP API.

mod health;
mod products;
mod reservations;
