-- One customer notice per order that reached its end; the key makes a second one impossible.
create table notices (
    order_id uuid primary key,
    kind text not null check (kind in ('confirmed', 'cancelled')),
    -- The order's cancel_reason; null when confirmed.
    reason text,
    message text not null,
    created_at timestamptz not null default now()
);
