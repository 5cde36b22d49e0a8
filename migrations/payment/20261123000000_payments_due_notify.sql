-- Wakes the payment worker when a payment becomes due (a new charge, a refund owed, a
-- reconciliation), instead of it finding the work on its next poll. Notifications are delivered
-- at commit, and identical ones within a transaction are folded into one.
create function payments_due_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify(tg_table_schema || '.payments_due', '');
    return null;
end
$$;

create trigger payments_due_notify after insert or update on payments
    for each row
    when (new.next_attempt_at <= now()
          and (new.status = 'PENDING' or (new.status = 'CAPTURED' and new.refund_id is not null)
               or new.reconcile))
    execute function payments_due_notify();
