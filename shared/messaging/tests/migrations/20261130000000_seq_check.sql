-- A constraint the test handler can break: an event with a negative seq is data the schema
-- refuses (SQLSTATE 23514), poison however often it is retried.
alter table applied add constraint applied_seq_not_negative check (seq >= 0);
