-- One shipment per paid order. SCHEDULED -> CANCELLED, or FAILED when the address is not
-- served; CANCELLED is also the tombstone when OrderCancelled came before PaymentCompleted.
create table shipments (
    order_id uuid primary key,
    status text not null check (status in ('SCHEDULED', 'CANCELLED', 'FAILED')),
    tracking_number text,
    -- ISO 3166-1 alpha-2 of the destination.
    country text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
