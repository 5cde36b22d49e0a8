-- Stock per product. Conservation: what was stocked = available + reserved + committed.
create table products (
    sku text primary key,
    name text not null,
    price_cents bigint not null check (price_cents > 0),
    -- Free to reserve.
    available int not null check (available >= 0),
    -- Held by reservations of orders still in their saga.
    reserved int not null default 0 check (reserved >= 0),
    -- Sold: reservations of confirmed orders.
    committed int not null default 0 check (committed >= 0)
);

-- One per order the service has heard of. HELD -> COMMITTED | RELEASED; REJECTED when stock was
-- short; CANCELLED when OrderCancelled came before OrderPlaced (a tombstone, so a late
-- OrderPlaced reserves nothing).
create table reservations (
    order_id uuid primary key,
    status text not null check (status in ('HELD', 'COMMITTED', 'RELEASED', 'REJECTED', 'CANCELLED')),
    -- [{sku, quantity, unit_price_cents}]
    lines jsonb not null default '[]',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
