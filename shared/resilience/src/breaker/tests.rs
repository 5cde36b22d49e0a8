//! Every transition of the breaker, on paused tokio time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

/// What a fake dependency answers: the classifier treats only `Err(ServerError)` as a failure.
#[derive(Debug, PartialEq)]
enum Reply {
    ServerError,
    Declined,
}

fn is_failure(result: &Result<(), Reply>) -> bool {
    matches!(result, Err(Reply::ServerError))
}

fn breaker() -> CircuitBreaker {
    CircuitBreaker::new("test", BreakerConfig::default())
}

async fn succeed(breaker: &CircuitBreaker) -> Result<(), BreakerError<Reply>> {
    breaker.call(|| async { Ok(()) }, is_failure).await
}

async fn fail(breaker: &CircuitBreaker) -> Result<(), BreakerError<Reply>> {
    breaker
        .call(|| async { Err(Reply::ServerError) }, is_failure)
        .await
}

async fn succeed_after(
    breaker: &CircuitBreaker,
    delay: Duration,
) -> Result<(), BreakerError<Reply>> {
    breaker
        .call(
            || async move {
                tokio::time::sleep(delay).await;
                Ok(())
            },
            is_failure,
        )
        .await
}

async fn open(breaker: &CircuitBreaker) {
    for _ in 0..5 {
        let _ = fail(breaker).await;
    }
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn opens_when_the_failure_rate_reaches_the_threshold() {
    let breaker = breaker();
    for _ in 0..2 {
        succeed(&breaker).await.unwrap();
    }
    for _ in 0..2 {
        let _ = fail(&breaker).await;
    }
    assert_eq!(
        breaker.state(),
        State::Closed,
        "4 calls are below minimum_calls"
    );

    let _ = fail(&breaker).await; // 3 of 5 failed: 60% >= 50%

    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn stays_closed_below_the_failure_rate() {
    let breaker = breaker();
    for _ in 0..3 {
        succeed(&breaker).await.unwrap();
    }
    for _ in 0..2 {
        let _ = fail(&breaker).await;
    }
    assert_eq!(breaker.state(), State::Closed, "2 of 5 failed: 40% < 50%");
}

#[tokio::test(start_paused = true)]
async fn does_not_judge_before_minimum_calls() {
    let breaker = breaker();
    for _ in 0..4 {
        let _ = fail(&breaker).await;
        assert_eq!(
            breaker.state(),
            State::Closed,
            "100% failures, but fewer than 5 calls"
        );
    }
    let _ = fail(&breaker).await;
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn opens_when_the_slow_call_rate_reaches_the_threshold() {
    let breaker = breaker();
    succeed(&breaker).await.unwrap();
    for _ in 0..3 {
        succeed_after(&breaker, Duration::from_secs(2))
            .await
            .unwrap();
    }
    assert_eq!(breaker.state(), State::Closed);

    succeed_after(&breaker, Duration::from_millis(2500))
        .await
        .unwrap(); // 4 of 5 slow: 80%

    assert_eq!(breaker.state(), State::Open, "slow successes open it too");
}

#[tokio::test(start_paused = true)]
async fn calls_just_under_the_slow_threshold_are_not_slow() {
    let breaker = breaker();
    for _ in 0..10 {
        succeed_after(&breaker, Duration::from_millis(1999))
            .await
            .unwrap();
    }
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_rejects_fast_without_calling_and_says_when_to_come_back() {
    let breaker = breaker();
    open(&breaker).await;
    tokio::time::advance(Duration::from_secs(10)).await;
    let calls = AtomicUsize::new(0);

    let result = breaker
        .call(
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Reply>(())
            },
            is_failure,
        )
        .await;

    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "an open breaker does not call"
    );
    assert_eq!(
        result,
        Err(BreakerError::Open {
            name: "test".into(),
            retry_after: Duration::from_secs(20)
        })
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_the_permitted_probes() {
    let breaker = breaker();
    open(&breaker).await;
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(breaker.state(), State::HalfOpen);
    let release = Arc::new(tokio::sync::Notify::new());

    let mut probes = Vec::new();
    for _ in 0..3 {
        let (breaker, release) = (breaker.clone(), release.clone());
        probes.push(tokio::spawn(async move {
            breaker
                .call(
                    || async move {
                        release.notified().await;
                        Ok::<_, Reply>(())
                    },
                    is_failure,
                )
                .await
        }));
    }
    tokio::task::yield_now().await;
    let fourth = succeed(&breaker).await;

    assert!(
        matches!(fourth, Err(BreakerError::Open { .. })),
        "a fourth probe is rejected"
    );
    release.notify_waiters();
    for probe in probes {
        probe.await.unwrap().unwrap();
    }
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn closes_only_after_every_probe_succeeded_then_judges_afresh() {
    let breaker = breaker();
    open(&breaker).await;
    tokio::time::advance(Duration::from_secs(30)).await;

    succeed(&breaker).await.unwrap();
    succeed(&breaker).await.unwrap();
    assert_eq!(breaker.state(), State::HalfOpen, "2 of 3 probes judged");
    succeed(&breaker).await.unwrap();

    assert_eq!(breaker.state(), State::Closed);
    for _ in 0..4 {
        let _ = fail(&breaker).await;
    }
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the window starts empty after closing"
    );
}

#[tokio::test(start_paused = true)]
async fn reopens_when_the_probes_fail() {
    let breaker = breaker();
    open(&breaker).await;
    tokio::time::advance(Duration::from_secs(30)).await;

    succeed(&breaker).await.unwrap();
    let _ = fail(&breaker).await;
    let _ = fail(&breaker).await; // 2 of 3 probes failed: 67% >= 50%

    assert_eq!(breaker.state(), State::Open);
    let rejected = succeed(&breaker).await;
    assert!(
        matches!(rejected, Err(BreakerError::Open { retry_after, .. }) if retry_after == Duration::from_secs(30))
    );
}

#[tokio::test(start_paused = true)]
async fn client_errors_never_open_it() {
    let breaker = breaker();
    for _ in 0..50 {
        let result = breaker
            .call(|| async { Err::<(), _>(Reply::Declined) }, is_failure)
            .await;
        assert_eq!(
            result,
            Err(BreakerError::Call(Reply::Declined)),
            "the error is passed on"
        );
    }
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_window_slides_so_old_successes_do_not_hide_new_failures() {
    let breaker = breaker();
    for _ in 0..100 {
        succeed(&breaker).await.unwrap();
    }
    for _ in 0..4 {
        let _ = fail(&breaker).await;
        assert_eq!(breaker.state(), State::Closed);
    }
    let _ = fail(&breaker).await; // the last 10: 5 successes, 5 failures

    assert_eq!(
        breaker.state(),
        State::Open,
        "opens on the 5th failure, not the 101st"
    );
}

#[tokio::test(start_paused = true)]
async fn an_outcome_from_before_a_state_change_is_ignored() {
    let breaker = breaker();
    let slow_failure = {
        let breaker = breaker.clone();
        tokio::spawn(async move {
            breaker
                .call(
                    || async {
                        tokio::time::sleep(Duration::from_secs(40)).await;
                        Err::<(), _>(Reply::ServerError)
                    },
                    is_failure,
                )
                .await
        })
    };
    tokio::task::yield_now().await;
    open(&breaker).await;
    tokio::time::advance(Duration::from_secs(30)).await;
    succeed(&breaker).await.unwrap(); // probe 1 of 3, half-open

    tokio::time::advance(Duration::from_secs(10)).await;
    let _ = slow_failure.await.unwrap(); // started while closed, ends while half-open
    succeed(&breaker).await.unwrap();
    succeed(&breaker).await.unwrap();

    assert_eq!(
        breaker.state(),
        State::Closed,
        "the stale failure did not count as a probe"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_frees_its_slot() {
    let breaker = breaker();
    open(&breaker).await;
    tokio::time::advance(Duration::from_secs(30)).await;
    let hung = {
        let breaker = breaker.clone();
        tokio::spawn(async move {
            breaker
                .call(std::future::pending::<Result<(), Reply>>, is_failure)
                .await
        })
    };
    tokio::task::yield_now().await;
    hung.abort();
    let _ = hung.await;

    for _ in 0..3 {
        succeed(&breaker)
            .await
            .expect("three probes are admitted again");
    }
    assert_eq!(breaker.state(), State::Closed);
}
