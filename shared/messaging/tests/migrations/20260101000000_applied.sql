-- What the test handler does with an event: one row per application, deliberately without a
-- unique constraint, so a double application shows as two rows.
create table applied (
    id bigint generated always as identity primary key,
    event_id uuid not null,
    subject text not null,
    seq int not null
);
