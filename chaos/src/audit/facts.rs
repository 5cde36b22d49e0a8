//! Invariants 1, 2, 3 and the gateway half of 6, for one order, from what every service holds
//! for it.

use std::time::Duration;

use uuid::Uuid;

use super::Violation;

/// What each service holds for one order.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct OrderFacts {
    id: Uuid,
    status: String,
    cancel_reason: Option<String>,
    total_cents: i64,
    reservation: Option<String>,
    payment: Option<String>,
    shipment: Option<String>,
    charges: i64,
    captures: i64,
    captured_cents: i64,
    refunded_cents: i64,
    most_refunds_per_charge: i64,
    /// Seconds from the order's own saga deadline to its end (or to now, while it runs).
    past_deadline_secs: f64,
}

/// SPEC invariant 1's drain time: how long after its own saga deadline an order may take to end
/// (the compensations of a cancellation at the deadline travel through the broker).
pub const DRAIN: Duration = Duration::from_secs(120);

impl OrderFacts {
    fn describe(&self) -> String {
        format!(
            "order {}{}, total {}; reservation {}, payment {}, shipment {}; gateway: {} charge(s), {} captured for {} cents, {} cents refunded",
            self.status,
            self.cancel_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            self.total_cents,
            self.reservation.as_deref().unwrap_or("none"),
            self.payment.as_deref().unwrap_or("none"),
            self.shipment.as_deref().unwrap_or("none"),
            self.charges,
            self.captures,
            self.captured_cents,
            self.refunded_cents,
        )
    }

    /// Invariants 1, 2, 3 and the gateway half of 6 for this order.
    pub(super) fn check(&self, violations: &mut Vec<Violation>) {
        let mut broken = |invariant: u8, what: &str| {
            violations.push(Violation {
                invariant,
                subject: format!("order {}", self.id),
                facts: format!("{what}: {}", self.describe()),
            });
        };
        let net = self.captured_cents - self.refunded_cents;
        match self.status.as_str() {
            "CONFIRMED" => {
                if self.reservation.as_deref() != Some("COMMITTED") {
                    broken(2, "confirmed without a committed reservation");
                }
                if self.captures != 1 || net != self.total_cents {
                    broken(2, "confirmed without exactly one capture of its total");
                }
                if self.shipment.as_deref() != Some("SCHEDULED") {
                    broken(2, "confirmed without a scheduled shipment");
                }
            }
            "CANCELLED" => {
                if matches!(self.reservation.as_deref(), Some("HELD" | "COMMITTED")) {
                    broken(3, "cancelled with stock still held or sold");
                }
                if net != 0 {
                    broken(3, "cancelled with money kept (captures - refunds != 0)");
                }
                if self.shipment.as_deref() == Some("SCHEDULED") {
                    broken(3, "cancelled with a live shipment");
                }
            }
            _ => broken(1, "not finished"),
        }
        if self.past_deadline_secs > DRAIN.as_secs_f64() {
            broken(
                1,
                &format!(
                    "{:.0} s past its own saga deadline, beyond the {} s drain",
                    self.past_deadline_secs,
                    DRAIN.as_secs()
                ),
            );
        }
        if self.charges > 1 {
            broken(6, "charged more than once");
        }
        if self.most_refunds_per_charge > 1 {
            broken(6, "refunded more than once");
        }
    }
}
