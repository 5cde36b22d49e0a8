//! A retry policy: at most `max_attempts` attempts, waits growing by `multiplier` from
//! `initial_interval` up to `max_interval`, with *full jitter* (each wait uniform in
//! `[0, ceiling]`, so clients that failed together do not retry together), and an optional
//! deadline past which no further attempt starts.
//!
//! The delay sequence is ours rather than a backoff crate's: its bounds are exact (a jittered wait
//! never exceeds `max_interval`), and the loop that uses it is a dozen lines.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// The contract's defaults (SPEC section 5): 3 attempts, 1 s doubling up to 30 s, jittered.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub initial_interval: Duration,
    pub max_interval: Duration,
    pub multiplier: f64,
    /// Full jitter: wait a uniform random time up to the ceiling instead of the ceiling itself.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: true,
        }
    }
}

/// Every attempt failed, or a failure was not worth retrying: the last error, and how many
/// attempts were made.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("failed after {attempts} attempt(s): {error}")]
pub struct Exhausted<E: std::fmt::Display> {
    pub attempts: u32,
    pub error: E,
}

impl RetryPolicy {
    /// The longest wait after failed attempt `attempt` (1-based):
    /// `min(max_interval, initial_interval × multiplier^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let seconds = self.initial_interval.as_secs_f64() * self.multiplier.powi(exponent);
        Duration::from_secs_f64(seconds.min(self.max_interval.as_secs_f64()))
    }

    /// The wait after failed attempt `attempt`: the ceiling, or with jitter a uniform draw below it.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        if !self.jitter || ceiling.is_zero() {
            return ceiling;
        }
        Duration::from_secs_f64(rand::rng().random_range(0.0..=ceiling.as_secs_f64()))
    }

    /// Runs `attempt(n)` (n from 1) until it succeeds, fails with an error `retryable` rejects,
    /// attempts run out, or the next attempt could not start before `deadline`.
    pub async fn run<T, E, Fut>(
        &self,
        deadline: Option<Instant>,
        mut attempt: impl FnMut(u32) -> Fut,
        retryable: impl Fn(&E) -> bool,
    ) -> Result<T, Exhausted<E>>
    where
        E: std::fmt::Display,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match attempt(attempts).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let wait = self.delay(attempts);
            let past_deadline = deadline.is_some_and(|deadline| Instant::now() + wait >= deadline);
            if attempts >= self.max_attempts || !retryable(&error) || past_deadline {
                return Err(Exhausted { attempts, error });
            }
            tracing::debug!(attempt = attempts, ?wait, %error, "retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn no_jitter() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            jitter: false,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn waits_double_from_the_initial_interval_up_to_the_maximum() {
        let policy = no_jitter();
        let waits: Vec<u64> = (1..=7)
            .map(|attempt| policy.delay(attempt).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_ceiling_and_spreads() {
        let policy = RetryPolicy::default();
        let draws: Vec<Duration> = (0..1000).map(|_| policy.delay(6)).collect();
        assert!(draws.iter().all(|wait| *wait <= Duration::from_secs(30)));
        let below_a_third = draws
            .iter()
            .filter(|wait| **wait < Duration::from_secs(10))
            .count();
        assert!(
            (200..=470).contains(&below_a_third),
            "uniform draws: ~333 of 1000 below 10 s, got {below_a_third}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_a_retryable_error_until_it_succeeds() {
        let started = Instant::now();
        let result = no_jitter()
            .run(
                None,
                |attempt| async move { if attempt < 3 { Err("503") } else { Ok(attempt) } },
                |_| true,
            )
            .await;
        assert_eq!(result, Ok(3));
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(1 + 2),
            "waited 1 s then 2 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stops_after_max_attempts_with_the_last_error() {
        let calls = RefCell::new(0);
        let result: Result<(), _> = RetryPolicy::default()
            .run(
                None,
                |attempt| {
                    *calls.borrow_mut() += 1;
                    async move { Err(format!("503 on attempt {attempt}")) }
                },
                |_| true,
            )
            .await;
        assert_eq!(
            result,
            Err(Exhausted {
                attempts: 3,
                error: "503 on attempt 3".to_owned()
            })
        );
        assert_eq!(*calls.borrow(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_what_is_not_retryable() {
        let started = Instant::now();
        let result: Result<(), _> = no_jitter()
            .run(
                None,
                |_| async { Err("402 declined") },
                |error| !error.starts_with("402"),
            )
            .await;
        assert_eq!(
            result,
            Err(Exhausted {
                attempts: 1,
                error: "402 declined"
            })
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn starts_no_attempt_that_would_begin_past_the_deadline() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let result: Result<(), _> = no_jitter()
            .run(Some(deadline), |_| async { Err("503") }, |_| true)
            .await;
        // Attempts at 0 s, 1 s and 3 s; the next would start at 7 s, past the deadline.
        assert_eq!(result.unwrap_err().attempts, 3);
        assert!(Instant::now() < deadline);
    }
}
