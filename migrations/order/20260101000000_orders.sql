-- Orders and their saga state. Status moves PENDING -> CONFIRMED | CANCELLING -> CANCELLED
-- (CANCELLED directly when nothing needs undoing).
create table orders (
    id uuid primary key,
    customer_id uuid not null,
    status text not null check (status in ('PENDING', 'CONFIRMED', 'CANCELLING', 'CANCELLED')),
    cancel_reason text,
    total_cents bigint not null check (total_cents > 0),
    -- [{sku, quantity, unit_price_cents}], prices from the catalogue at placement.
    lines jsonb not null,
    shipping_address jsonb not null,
    -- The compensations a CANCELLING order still waits for before it is CANCELLED.
    awaiting_release boolean not null default false,
    awaiting_refund boolean not null default false,
    -- The client's Idempotency-Key and the request it came with (canonical JSON).
    idempotency_key text unique,
    request_fingerprint text,
    -- Past this, a PENDING order is cancelled with reason `timeout`.
    deadline_at timestamptz not null,
    created_at timestamptz not null default now(),
    finished_at timestamptz
);

create index orders_created on orders (created_at desc);
create index orders_status_created on orders (status, created_at desc);
create index orders_pending_deadline on orders (deadline_at) where status = 'PENDING';

-- Every saga event seen for an order, in arrival order: the order's timeline.
create table order_timeline (
    id bigint generated always as identity primary key,
    order_id uuid not null references orders (id),
    -- The event's name, e.g. `InventoryReserved`.
    event text not null,
    -- A reason or a reference, when the event has one.
    detail text,
    at timestamptz not null default now()
);

create index order_timeline_order on order_timeline (order_id, id);
