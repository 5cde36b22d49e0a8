-- The trace of the request that placed the order, so the saga deadline's cancellation joins it
-- (W3C traceparent; null: a new trace).
alter table orders add column traceparent text;
