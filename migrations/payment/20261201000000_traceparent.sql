-- The trace a payment's work continues: the worker's charge, refund and reconcile spans are children
-- of the span that created the payment or asked for its refund (W3C traceparent; null: a new trace).
alter table payments add column traceparent text;
