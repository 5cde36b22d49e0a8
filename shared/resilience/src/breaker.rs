//! A circuit breaker with Resilience4j's count-based semantics.
//!
//! - **Closed**: every call is let through and its outcome (failed? slow?) kept in a window of the
//!   last `sliding_window_size` calls. Once the window holds `minimum_calls`, a failure rate or a
//!   slow-call rate at or above its threshold opens the breaker.
//! - **Open**: calls fail fast with [`BreakerError::Open`], which says when the breaker will next
//!   admit one. After `wait_duration_in_open` it is half-open.
//! - **Half-open**: exactly `permitted_calls_in_half_open` probes are let through; the rest are
//!   rejected. When every probe has been judged, the same thresholds decide: open again, or closed
//!   with an empty window.
//!
//! What counts as a failure is the caller's to say (a classifier on the result): for an HTTP
//! dependency, 5xx, timeouts and connection errors do, a 4xx does not. Outcomes of calls that
//! started before the last state change are ignored, so a slow call from before the breaker opened
//! cannot decide a half-open trial. Safe under concurrent calls: the state sits behind a mutex held
//! only to admit and to record, never across the call.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// The breaker's settings; `Default` is the contract's (SPEC section 5).
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Failure rate (0..=1) of the window at or above which the breaker opens.
    pub failure_rate_threshold: f64,
    /// How many of the most recent calls the closed breaker judges.
    pub sliding_window_size: usize,
    /// Calls the window must hold before the breaker judges at all.
    pub minimum_calls: usize,
    /// A call that takes at least this long is slow, whatever its result.
    pub slow_call_duration_threshold: Duration,
    /// Slow-call rate (0..=1) at or above which the breaker opens.
    pub slow_call_rate_threshold: f64,
    /// How long the breaker stays open before it lets probes through.
    pub wait_duration_in_open: Duration,
    /// Probes let through while half-open; all are judged before the breaker closes.
    pub permitted_calls_in_half_open: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_rate_threshold: 0.5,
            sliding_window_size: 10,
            minimum_calls: 5,
            slow_call_duration_threshold: Duration::from_secs(2),
            slow_call_rate_threshold: 0.8,
            wait_duration_in_open: Duration::from_secs(30),
            permitted_calls_in_half_open: 3,
        }
    }
}

/// The breaker's state, as exported in the `circuit_breaker_state` gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

impl State {
    fn label(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// A call through the breaker failed: rejected without being made, or made and failed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BreakerError<E> {
    /// Not called: the breaker is open (or its half-open probes are all taken). `retry_after` is
    /// how long until it may admit a call.
    #[error("circuit breaker {name} is open; next call admitted in {retry_after:?}")]
    Open { name: String, retry_after: Duration },
    /// Called, and it returned this error.
    #[error(transparent)]
    Call(E),
}

#[derive(Clone, Copy, Debug)]
struct Outcome {
    failed: bool,
    slow: bool,
}

#[derive(Debug)]
enum Phase {
    Closed {
        window: VecDeque<Outcome>,
    },
    Open {
        until: Instant,
    },
    HalfOpen {
        admitted: usize,
        judged: Vec<Outcome>,
    },
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// Bumped on every state change; a call records its outcome only in the epoch it started in.
    epoch: u64,
}

/// A named circuit breaker; clones share one state.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    name: Arc<str>,
    config: Arc<BreakerConfig>,
    inner: Arc<Mutex<Inner>>,
}

impl CircuitBreaker {
    pub fn new(name: &str, config: BreakerConfig) -> Self {
        let breaker = Self {
            name: name.into(),
            config: Arc::new(config),
            inner: Arc::new(Mutex::new(Inner {
                phase: Phase::Closed {
                    window: VecDeque::new(),
                },
                epoch: 0,
            })),
        };
        breaker.export_state(State::Closed);
        breaker
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current state. An open breaker whose wait is over reports half-open.
    pub fn state(&self) -> State {
        let inner = self.lock();
        match inner.phase {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { until } if Instant::now() < until => State::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    /// Runs `call` if the breaker admits it, times it, and records whether `is_failure` judges
    /// the result a failure. The result is returned as it is (an `Err` wrapped in `Call`).
    pub async fn call<T, E, Fut>(
        &self,
        call: impl FnOnce() -> Fut,
        is_failure: impl FnOnce(&Result<T, E>) -> bool,
    ) -> Result<T, BreakerError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.acquire().map_err(|retry_after| {
            metrics::counter!("circuit_breaker_calls_total", "name" => self.name.to_string(), "outcome" => "rejected")
                .increment(1);
            BreakerError::Open {
                name: self.name.to_string(),
                retry_after,
            }
        })?;
        let started = Instant::now();
        let result = call().await;
        let outcome = Outcome {
            failed: is_failure(&result),
            slow: started.elapsed() >= self.config.slow_call_duration_threshold,
        };
        permit.record(outcome);
        result.map_err(BreakerError::Call)
    }

    /// Admits a call, or says how long until one may be admitted.
    fn acquire(&self) -> Result<Permit<'_>, Duration> {
        let mut inner = self.lock();
        let now = Instant::now();
        if let Phase::Open { until } = inner.phase {
            if now < until {
                return Err(until - now);
            }
            self.transition(&mut inner, State::HalfOpen);
        }
        if let Phase::HalfOpen { admitted, .. } = &mut inner.phase {
            if *admitted >= self.config.permitted_calls_in_half_open {
                // The probes are out; their verdict will reopen or close the breaker.
                return Err(Duration::ZERO);
            }
            *admitted += 1;
        }
        Ok(Permit {
            breaker: self,
            epoch: inner.epoch,
            recorded: false,
        })
    }

    fn record(&self, epoch: u64, outcome: Outcome) {
        let label = match (outcome.failed, outcome.slow) {
            (false, false) => "success",
            (true, false) => "failure",
            (false, true) => "slow_success",
            (true, true) => "slow_failure",
        };
        metrics::counter!("circuit_breaker_calls_total", "name" => self.name.to_string(), "outcome" => label)
            .increment(1);
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        let config = &self.config;
        let next = match &mut inner.phase {
            Phase::Closed { window } => {
                window.push_back(outcome);
                while window.len() > config.sliding_window_size {
                    window.pop_front();
                }
                (window.len() >= config.minimum_calls && self.exceeds_thresholds(window.iter()))
                    .then_some(State::Open)
            }
            Phase::HalfOpen { judged, .. } => {
                judged.push(outcome);
                (judged.len() >= config.permitted_calls_in_half_open).then(|| {
                    if self.exceeds_thresholds(judged.iter()) {
                        State::Open
                    } else {
                        State::Closed
                    }
                })
            }
            Phase::Open { .. } => None,
        };
        if let Some(next) = next {
            self.transition(&mut inner, next);
        }
    }

    /// A half-open probe that ended without a result (its future was dropped) frees its slot.
    fn release(&self, epoch: u64) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        if let Phase::HalfOpen { admitted, .. } = &mut inner.phase {
            *admitted = admitted.saturating_sub(1);
        }
    }

    fn exceeds_thresholds<'a>(&self, outcomes: impl Iterator<Item = &'a Outcome>) -> bool {
        let (mut total, mut failed, mut slow) = (0usize, 0usize, 0usize);
        for outcome in outcomes {
            total += 1;
            failed += usize::from(outcome.failed);
            slow += usize::from(outcome.slow);
        }
        let rate = |count: usize| count as f64 / total.max(1) as f64;
        rate(failed) >= self.config.failure_rate_threshold
            || rate(slow) >= self.config.slow_call_rate_threshold
    }

    fn transition(&self, inner: &mut Inner, to: State) {
        let from = match inner.phase {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        };
        inner.epoch += 1;
        inner.phase = match to {
            State::Closed => Phase::Closed {
                window: VecDeque::with_capacity(self.config.sliding_window_size),
            },
            State::Open => Phase::Open {
                until: Instant::now() + self.config.wait_duration_in_open,
            },
            State::HalfOpen => Phase::HalfOpen {
                admitted: 0,
                judged: Vec::with_capacity(self.config.permitted_calls_in_half_open),
            },
        };
        tracing::warn!(breaker = %self.name, from = from.label(), to = to.label(), "circuit breaker state changed");
        metrics::counter!(
            "circuit_breaker_transitions_total",
            "name" => self.name.to_string(), "from" => from.label(), "to" => to.label()
        )
        .increment(1);
        self.export_state(to);
    }

    fn export_state(&self, state: State) {
        metrics::gauge!("circuit_breaker_state", "name" => self.name.to_string())
            .set(state as u8 as f64);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The lock guards plain data and no code panics while holding it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Admission of one call, tied to the epoch it was admitted in.
struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    epoch: u64,
    recorded: bool,
}

impl Permit<'_> {
    fn record(mut self, outcome: Outcome) {
        self.recorded = true;
        self.breaker.record(self.epoch, outcome);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            self.breaker.release(self.epoch);
        }
    }
}

#[cfg(test)]
mod tests;
