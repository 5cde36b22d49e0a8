-- One payment per order. PENDING -> CAPTURED -> REFUNDED, or FAILED, or CANCELLED (before any
-- charge; also the tombstone when OrderCancelled came before InventoryReserved).
create table payments (
    order_id uuid primary key,
    -- The Idempotency-Key of every charge attempt, so retries never charge twice.
    id uuid not null unique,
    status text not null check (status in ('PENDING', 'CAPTURED', 'FAILED', 'REFUNDED', 'CANCELLED')),
    amount_cents bigint not null default 0,
    card_token text not null default '',
    -- Passed on to shipping in PaymentCompleted.
    shipping_address jsonb,
    -- Calls made to the gateway, retries included.
    attempts int not null default 0,
    charge_id uuid,
    failure_reason text,
    -- Set when a refund is owed; it is the refund's Idempotency-Key.
    refund_id uuid,
    -- A charge call may have succeeded at the gateway without our learning it (its answer was
    -- lost) before the payment gave up: the worker looks it up and refunds it.
    reconcile boolean not null default false,
    -- When the worker next looks at this payment, and when a PENDING one gives up.
    next_attempt_at timestamptz not null default now(),
    deadline_at timestamptz not null default now(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- What the worker polls: charges due, refunds owed, reconciliations.
create index payments_due on payments (next_attempt_at)
    where status = 'PENDING' or (status = 'CAPTURED' and refund_id is not null) or reconcile;
