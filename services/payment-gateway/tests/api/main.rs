mod charges;
mod faults;
mod health;
mod helpers;
mod refunds;
