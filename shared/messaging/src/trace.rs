//! W3C trace context (`traceparent`) carried from an HTTP request or a consumed event to every
//! event written while handling it, so one order's saga shares a trace id across services.

use std::fmt;

use rand::Rng;

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// `00-<trace id>-<span id>-01`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    pub span_id: u64,
}

impl TraceContext {
    /// A new trace (a request that arrives without one).
    pub fn new_root() -> Self {
        let mut rng = rand::rng();
        Self {
            trace_id: rng.random_range(1..=u128::MAX),
            span_id: rng.random_range(1..=u64::MAX),
        }
    }

    /// A child span in the same trace.
    pub fn child(self) -> Self {
        Self {
            span_id: rand::rng().random_range(1..=u64::MAX),
            ..self
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split('-');
        let (version, trace, span, _flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || trace.len() != 32 || span.len() != 16 {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|id| *id != 0)?;
        let span_id = u64::from_str_radix(span, 16).ok().filter(|id| *id != 0)?;
        Some(Self { trace_id, span_id })
    }

    /// The context of the task (set by `scope`), else a new root.
    pub fn current() -> Self {
        CURRENT
            .try_with(|ctx| *ctx)
            .unwrap_or_else(|_| Self::new_root())
    }

    /// Runs `future` with `self` as the current context; events it enqueues join this trace.
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{:032x}-{:016x}-01", self.trace_id, self.span_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_rejects_malformed_values() {
        let ctx = TraceContext::new_root();
        assert_eq!(TraceContext::parse(&ctx.to_string()), Some(ctx));
        assert_eq!(TraceContext::parse("00-abc-def-01"), None);
        assert_eq!(
            TraceContext::parse("00-00000000000000000000000000000000-0000000000000001-01"),
            None
        );
    }

    #[tokio::test]
    async fn a_scope_sets_the_current_context() {
        let ctx = TraceContext::new_root();
        let seen = ctx.scope(async { TraceContext::current() }).await;
        assert_eq!(seen, ctx);
        assert_ne!(TraceContext::current().trace_id, ctx.trace_id);
    }
}
