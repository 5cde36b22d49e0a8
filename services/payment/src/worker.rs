//! The payment worker: charges due payments, pays owed refunds and reconciles payments that gave
//! up, through the gateway client. Each piece of work is one transaction that holds the payment's
//! row lock across the gateway call, so an `OrderCancelled` handled meanwhile waits and then sees
//! the outcome (a capture to refund, not a payment to cancel).
//!
//! With the gateway unavailable (breaker open, retries exhausted) a charge is deferred, not
//! failed, until the payment's deadline; then it fails with `payment_unavailable`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use events::{EventType, Failure, OrderRef, PaymentCompleted, reasons};
use messaging::Outbox;
use platform::Shutdown;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::gateway::{ChargeOutcome, GatewayClient, GatewayError};
use crate::payments::{self, Payment, Status};

#[derive(Clone, Debug)]
pub struct Worker {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub gateway: GatewayClient,
}

/// Wakes an idle loop on each `<schema>.payments_due` notification until `shutdown` (or the
/// next loop to go idle, when none is).
async fn listen(pool: PgPool, due: Arc<Notify>, shutdown: Shutdown) {
    let mut listener = loop {
        match due_listener(&pool).await {
            Ok(listener) => break listener,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for due payments, polling meanwhile");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            notification = listener.recv() => {
                // PgListener reconnects by itself; the poll covers what was missed meanwhile.
                if let Err(error) = notification {
                    tracing::debug!(%error, "payments listener interrupted");
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                due.notify_one();
            }
        }
    }
}

async fn due_listener(pool: &PgPool) -> sqlx::Result<PgListener> {
    let schema: String = sqlx::query_scalar("select current_schema()")
        .fetch_one(pool)
        .await?;
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(&format!("{schema}.payments_due")).await?;
    Ok(listener)
}

/// How long to wait before looking at a payment again after the gateway failed it.
fn defer_for(error: &GatewayError, attempts: i32) -> Duration {
    match error {
        GatewayError::Open { retry_after, .. } => (*retry_after).max(Duration::from_millis(100)),
        _ => Duration::from_secs(1 << attempts.clamp(0, 4)).min(Duration::from_secs(10)),
    }
}

/// How often the first loop, when idle, looks for work that no notification announced:
/// payments deferred to a later time, and anything missed while the listener reconnected. The
/// other loops wait for notifications only: an idle worker costs one look per interval, not one
/// per loop.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

impl Worker {
    /// Runs `concurrency` loops until `shutdown`. They wake on the `payments_due` notification
    /// (a migration's trigger sends it when a payment becomes due); the first also every
    /// `POLL_INTERVAL`, and wakes another when it finds work.
    pub async fn run(self, concurrency: usize, shutdown: Shutdown) {
        let due = Arc::new(Notify::new());
        let mut loops = tokio::task::JoinSet::new();
        loops.spawn(listen(self.pool.clone(), due.clone(), shutdown.clone()));
        for n in 0..concurrency {
            let (worker, due, shutdown) = (self.clone(), due.clone(), shutdown.clone());
            let poll = (n == 0).then_some(POLL_INTERVAL);
            loops.spawn(async move { worker.run_loop(&due, poll, shutdown).await });
        }
        loops.join_all().await;
    }

    async fn run_loop(&self, due: &Notify, poll: Option<Duration>, shutdown: Shutdown) {
        let mut polled = false;
        while !shutdown.is_triggered() {
            // Registered before looking, so a notification sent while it looks wakes it.
            let notified = due.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let idle = match self.step().await {
                Ok(worked) => !worked,
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "payment worker step failed");
                    true
                }
            };
            if !idle && polled {
                // Work that no notification announced (deferred payments fall due together):
                // another loop shares it.
                due.notify_one();
            }
            polled = false;
            if idle {
                let poll_due = async {
                    match poll {
                        Some(interval) => tokio::time::sleep(interval).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = notified => {}
                    _ = poll_due => polled = true,
                }
            }
        }
    }

    /// Does one piece of due work; returns whether there was any.
    pub async fn step(&self) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(payment) = payments::claim_due(&mut tx).await? else {
            return Ok(false);
        };
        let work = match payment.status {
            Status::Pending => "charge",
            Status::Captured => "refund",
            _ => "reconcile",
        };
        let span = tracing::info_span!(
            "payment",
            otel.name = format!("payment {work}"),
            order_id = %payment.order_id,
            trace_id = tracing::field::Empty,
        );
        platform::telemetry::continue_trace(&span, payment.traceparent.as_deref());
        async {
            match payment.status {
                Status::Pending => self.charge(&mut tx, &payment).await?,
                Status::Captured => self.refund(&mut tx, &payment).await?,
                _ => self.reconcile(&mut tx, &payment).await?,
            }
            anyhow::Ok(())
        }
        .instrument(span)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn charge(&self, tx: &mut PgConnection, payment: &Payment) -> anyhow::Result<()> {
        let order_id = payment.order_id;
        let result = self
            .gateway
            .charge(
                payment.id,
                order_id,
                payment.amount_cents,
                &payment.card_token,
            )
            .await;
        match result {
            Ok((ChargeOutcome::Captured { charge_id }, attempts)) => {
                sqlx::query(
                    "update payments set status = 'CAPTURED', charge_id = $2, attempts = attempts + $3,
                            updated_at = now() where order_id = $1",
                )
                .bind(order_id)
                .bind(charge_id)
                .bind(attempts as i32)
                .execute(&mut *tx)
                .await?;
                let shipping_address = match &payment.shipping_address {
                    Some(address) => address.0.clone(),
                    None => anyhow::bail!("payment of order {order_id} charged without an address"),
                };
                let completed = PaymentCompleted {
                    order_id,
                    charge_id,
                    amount_cents: payment.amount_cents,
                    shipping_address,
                };
                self.outbox
                    .enqueue(tx, EventType::PaymentCompleted, order_id, &completed)
                    .await?;
                tracing::info!(%order_id, %charge_id, "payment captured");
            }
            Ok((ChargeOutcome::Declined { decline_code }, attempts)) => {
                tracing::info!(%order_id, decline_code, "payment declined");
                self.fail(
                    tx,
                    payment,
                    reasons::PAYMENT_DECLINED,
                    attempts as i32,
                    false,
                )
                .await?;
            }
            Err(GatewayError::Rejected { status, body }) => {
                tracing::error!(%order_id, status, body, "the gateway rejected a charge");
                self.fail(tx, payment, reasons::PAYMENT_UNAVAILABLE, 1, false)
                    .await?;
            }
            Err(error) => {
                let made = error.calls_made() as i32;
                let wait = defer_for(&error, payment.attempts + made);
                let next = Utc::now() + wait;
                if next >= payment.deadline_at {
                    tracing::warn!(%order_id, %error, "payment deadline passed, giving up");
                    // A call was made, so a capture may exist whose answer was lost.
                    let reconcile = payment.attempts + made > 0;
                    self.fail(tx, payment, reasons::PAYMENT_UNAVAILABLE, made, reconcile)
                        .await?;
                } else {
                    tracing::info!(%order_id, %error, ?wait, "payment deferred");
                    sqlx::query(
                        "update payments set attempts = attempts + $2, next_attempt_at = $3,
                                updated_at = now() where order_id = $1",
                    )
                    .bind(order_id)
                    .bind(made)
                    .bind(next)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn fail(
        &self,
        tx: &mut PgConnection,
        payment: &Payment,
        reason: &str,
        attempts: i32,
        reconcile: bool,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "update payments set status = 'FAILED', failure_reason = $2, attempts = attempts + $3,
                    reconcile = $4, refund_id = case when $4 then gen_random_uuid() end,
                    next_attempt_at = now(), updated_at = now()
             where order_id = $1",
        )
        .bind(payment.order_id)
        .bind(reason)
        .bind(attempts)
        .bind(reconcile)
        .execute(&mut *tx)
        .await?;
        let failed = Failure::new(payment.order_id, reason);
        self.outbox
            .enqueue(tx, EventType::PaymentFailed, payment.order_id, &failed)
            .await?;
        Ok(())
    }

    /// Pays an owed refund; retried until the gateway takes it.
    async fn refund(&self, tx: &mut PgConnection, payment: &Payment) -> sqlx::Result<()> {
        let (Some(refund_id), Some(charge_id)) = (payment.refund_id, payment.charge_id) else {
            return Ok(());
        };
        let order_id = payment.order_id;
        match self
            .gateway
            .refund(refund_id, charge_id, payment.amount_cents)
            .await
        {
            Ok(_) => {
                sqlx::query(
                    "update payments set status = 'REFUNDED', updated_at = now() where order_id = $1",
                )
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
                self.outbox
                    .enqueue(
                        tx,
                        EventType::PaymentRefunded,
                        order_id,
                        &OrderRef { order_id },
                    )
                    .await?;
                tracing::info!(%order_id, "payment refunded");
            }
            Err(error) => self.retry_later(tx, payment, &error).await?,
        }
        Ok(())
    }

    /// A payment that gave up after calling the gateway: refund whatever it captured.
    async fn reconcile(&self, tx: &mut PgConnection, payment: &Payment) -> sqlx::Result<()> {
        let Some(refund_id) = payment.refund_id else {
            return Ok(());
        };
        let refunds = match self.gateway.captured_charges(payment.order_id).await {
            Ok(charges) => charges,
            Err(error) => return self.retry_later(tx, payment, &error).await,
        };
        for (charge_id, amount) in refunds {
            tracing::warn!(order_id = %payment.order_id, %charge_id, "refunding a capture whose answer was lost");
            if let Err(error) = self.gateway.refund(refund_id, charge_id, amount).await {
                return self.retry_later(tx, payment, &error).await;
            }
        }
        sqlx::query(
            "update payments set reconcile = false, updated_at = now() where order_id = $1",
        )
        .bind(payment.order_id)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn retry_later(
        &self,
        tx: &mut PgConnection,
        payment: &Payment,
        error: &GatewayError,
    ) -> sqlx::Result<()> {
        tracing::warn!(order_id = %payment.order_id, %error, "gateway call failed, retrying later");
        let wait = match error {
            GatewayError::Rejected { .. } => Duration::from_secs(60),
            _ => defer_for(error, 3),
        };
        sqlx::query(
            "update payments set next_attempt_at = $2, updated_at = now() where order_id = $1",
        )
        .bind(payment.order_id)
        .bind(Utc::now() + wait)
        .execute(tx)
        .await?;
        Ok(())
    }
}
