//! One shutdown signal that fans out to every part of a service.
//!
//! `Shutdown::new()` hands out clones; whoever holds one can `trigger()` it (the OS signal listener,
//! a test) and every holder's `wait()` resolves. Each worker (HTTP server, relay, consumers) selects
//! on `wait()`, drains and returns; `main` awaits them all (mini-redis `shutdown.rs`).

use tokio::sync::watch;

/// A cloneable, level-triggered shutdown flag: once triggered it stays triggered, so a task that
/// starts waiting late still sees it.
#[derive(Clone, Debug)]
pub struct Shutdown {
    sender: std::sync::Arc<watch::Sender<bool>>,
    receiver: watch::Receiver<bool>,
}

impl Shutdown {
    pub fn new() -> Self {
        let (sender, receiver) = watch::channel(false);
        Self {
            sender: std::sync::Arc::new(sender),
            receiver,
        }
    }

    /// Asks every holder to stop.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Resolves once `trigger()` was called by anyone.
    pub async fn wait(&self) {
        let mut receiver = self.receiver.clone();
        // `wait_for` returns at once if the value already satisfies the predicate; it only errs
        // when every sender is gone, and we hold one.
        let _ = receiver.wait_for(|stopped| *stopped).await;
    }

    /// A `Shutdown` that triggers on SIGINT (ctrl-c) or SIGTERM.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received, draining");
            trigger.trigger();
        });
        shutdown
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM, only ctrl-c stops this process");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger_even_when_it_waits_late() {
        let shutdown = Shutdown::new();
        let early = shutdown.clone();
        let waiter = tokio::spawn(async move { early.wait().await });

        assert!(!shutdown.is_triggered());
        shutdown.trigger();
        waiter.await.unwrap();

        let late = shutdown.clone();
        tokio::time::timeout(std::time::Duration::from_secs(1), late.wait())
            .await
            .expect("a late waiter must see an earlier trigger");
    }
}
