-- One login role and one schema per service; each role owns its own schema and nothing else, so a
-- service cannot read or write another's tables. The schema has the role's name, so the default
-- search_path ("$user", public) finds a service's tables without naming the schema.
--
-- The single source of truth for this set-up: the native stack (`stack up`) and the test harness
-- run it in every database they create, and docker compose mounts it into the postgres image's
-- /docker-entrypoint-initdb.d. Idempotent. The passwords are for local development only.
do $$
declare
    service text;
begin
    -- One per line: every participant (events::PARTICIPANTS) and the gateway; a stack test checks.
    foreach service in array array[
        'order',
        'inventory',
        'payment',
        'shipping',
        'notification',
        'gateway'
    ] loop
        if not exists (select from pg_roles where rolname = service) then
            execute format('create role %I login password %L', service, service);
        end if;
        execute format('create schema if not exists %I authorization %I', service, service);
    end loop;
end
$$;

-- Nothing of ours lives in public: no role may create objects there.
revoke create on schema public from public;
