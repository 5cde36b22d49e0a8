-- Every dead letter re-driven by an operator: who, when, and which event. Re-driving removes the
-- event's dead-lettered inbox row in the same transaction, so the consumer applies it this time.
create table dlq_redrives (
    id bigint generated always as identity primary key,
    event_id uuid,
    dlq_partition int not null,
    dlq_offset bigint not null,
    original_topic text not null,
    redriven_by text not null,
    redriven_at timestamptz not null default now()
);

-- The inbox is purged past its retention window by processed_at.
create index inbox_processed_at on inbox using brin (processed_at);
