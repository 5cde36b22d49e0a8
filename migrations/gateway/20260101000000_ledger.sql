-- The simulated PSP's ledger: what it charged and refunded, keyed by the client's
-- Idempotency-Key so a retried request never charges or refunds twice.

create table charges (
    id uuid primary key,
    idempotency_key text not null unique,
    order_id uuid not null,
    amount_cents bigint not null check (amount_cents > 0),
    currency text not null,
    card_token text not null,
    -- `captured` or `declined`; a declined charge is kept so a retry gets the same 402.
    status text not null check (status in ('captured', 'declined')),
    decline_code text,
    -- Sum of its refunds; never above amount_cents.
    refunded_cents bigint not null default 0 check (refunded_cents between 0 and amount_cents),
    created_at timestamptz not null default now()
);

create index charges_order_id on charges (order_id);

create table refunds (
    id uuid primary key,
    idempotency_key text not null unique,
    charge_id uuid not null references charges (id),
    amount_cents bigint not null check (amount_cents > 0),
    created_at timestamptz not null default now()
);

create index refunds_charge_id on refunds (charge_id);
