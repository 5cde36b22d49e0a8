#!/usr/bin/env bash
# The official postgres image's entrypoint contract, for the parts docker-compose.yml uses.
set -euo pipefail
shopt -s nullglob

if [ "${1:-}" != postgres ]; then
  exec "$@"
fi

: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "POSTGRES_PASSWORD is not set: the official image refuses to start without it, so does this one" >&2
  exit 1
fi
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "initialising $PGDATA for $POSTGRES_USER"
  # A failed initialisation leaves nothing behind, so the next start tries again.
  trap 'echo "initialisation failed: emptying $PGDATA" >&2; rm -rf "${PGDATA:?}"/*' ERR
  pwfile=$(mktemp) && chown postgres "$pwfile"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  as_postgres initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"

  # The init scripts run against a server that listens on its socket only.
  as_postgres pg_ctl --silent --wait --options="-c listen_addresses=''" start
  psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER")
  if [ "$POSTGRES_DB" != postgres ]; then
    echo 'create database :"db"' | "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" >/dev/null
  fi
  for file in /docker-entrypoint-initdb.d/*; do
    case "$file" in
      *.sql) echo "running $file"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$file" >/dev/null ;;
      *.sh) echo "running $file"; . "$file" ;;
      *) echo "ignoring $file" ;;
    esac
  done
  as_postgres pg_ctl --silent --wait --mode=fast stop
  trap - ERR
  echo "initialised"
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -c listen_addresses='*'
