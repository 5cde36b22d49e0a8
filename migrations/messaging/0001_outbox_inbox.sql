-- The messaging tables every service has in its own schema (shared/messaging applies this file
-- before the service's own migrations; version 1 is reserved for it, services use timestamps).

-- Transactional outbox: a row is written in the same transaction as the state change it
-- announces, and the relay publishes rows in `id` order. Rows are never deleted on publish.
create table outbox (
    -- Insert order, which is publish order.
    id bigint generated always as identity primary key,
    -- The CloudEvents id (`ce_id`, a UUIDv7 from `Outbox::enqueue`); consumers deduplicate on it.
    event_id uuid not null,
    topic text not null,
    -- The Kafka key: the aggregate (order) id, so one order's events share a partition.
    key text not null,
    -- Versioned CloudEvents type, e.g. `order.placed.v1`.
    event_type text not null,
    source text not null,
    -- `json`, not `jsonb`: stored as written and sent as is, with no re-encoding on the way out.
    payload json not null,
    -- W3C trace context of the transaction that wrote the row.
    traceparent text not null,
    created_at timestamptz not null default now(),
    -- Set once the broker acknowledged the event; null while it waits for the relay.
    published_at timestamptz
);

-- Marking a row published rewrites it in every index, so the outbox keeps few: what the relay
-- reads (small, because published rows leave it) and a BRIN range index, nearly free to keep, for
-- retention and replay by time. Replay by aggregate, an operator's tool, scans.
create index outbox_unpublished on outbox (id) where published_at is null;
create index outbox_created_at on outbox using brin (created_at);

-- Wakes the relay when a transaction that wrote events commits (notifications are delivered at
-- commit, and identical ones within a transaction are folded into one).
create function outbox_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify(tg_table_schema || '.outbox', '');
    return null;
end
$$;

create trigger outbox_notify after insert on outbox
    for each statement execute function outbox_notify();

-- Idempotent consumer: the `ce_id` of every event applied (or dead-lettered), written in the
-- transaction that applies it, so a redelivered event is recognised and skipped.
create table inbox (
    event_id uuid primary key,
    event_type text not null,
    topic text not null,
    -- Where it was first read, for debugging.
    kafka_partition int not null,
    kafka_offset bigint not null,
    -- True when the event went to the dead-letter topic instead of being applied.
    dead_lettered boolean not null default false,
    processed_at timestamptz not null default now()
);
