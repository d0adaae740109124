#!/usr/bin/env bash
# Database outage drill: gunicorn with the production settings on a private, throw-away
# PostgreSQL cluster that is stopped and started again while a signed-in user browses.
# Prints the status and time of every probe. Touches no other database server.
#
#   scripts/outage_drill.sh            # needs PostgreSQL's initdb/pg_ctl and a `postgres` system user
#   DRILL_PG_PORT=8290 DRILL_APP_PORT=8251 scripts/outage_drill.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT="${DRILL_PG_PORT:-8290}"
APP_PORT="${DRILL_APP_PORT:-8251}"
PG_BIN="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
WORK="$(mktemp -d /tmp/outage-drill.XXXXXX)"
chmod 755 "$WORK"
install -d -o postgres -m 700 "$WORK/pg" && install -d -o postgres "$WORK/sock"
as_postgres() { runuser -u postgres -- "$@"; }

cleanup() {
    [[ -n "${APP_PID:-}" ]] && kill "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null
    as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

probe() {  # probe LABEL PATH -> "LABEL: STATUS in SECONDS s"
    curl -s -o /dev/null -m 30 -w "$1: %{http_code} in %{time_total} s\n" \
        -H "X-Forwarded-Proto: https" -H "Cookie: sessionid=$SESSION" "http://127.0.0.1:$APP_PORT$2"
}

echo "== private PostgreSQL cluster on 127.0.0.1:$PG_PORT"
as_postgres "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U postgres >/dev/null
as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg" -o "-p $PG_PORT -k $WORK/sock -c listen_addresses=127.0.0.1" -l "$WORK/sock/pg.log" -w start >/dev/null
as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres drill

export DEBUG=false SECRET_KEY="drill-only-$(date +%s)-not-a-real-secret-key-0123456789abcdef" \
    DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/drill" ALLOWED_HOSTS=127.0.0.1 \
    STATIC_ROOT="$WORK/static" LOG_DIR="$WORK/logs"
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" manage.py migrate --noinput -v0
"$PYTHON" manage.py createcachetable
"$PYTHON" manage.py collectstatic --noinput -v0
SESSION="$("$PYTHON" manage.py shell -c '
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from accounts.models import User
user = User.objects.create_user(username="drill", password="drill-password-0123")
session = SessionStore()
session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash()})
session.create()
print(session.session_key)' 2>/dev/null | tail -1)"

echo "== gunicorn on 127.0.0.1:$APP_PORT"
"$PYTHON" -m gunicorn -c gunicorn.conf.py --bind "127.0.0.1:$APP_PORT" >"$WORK/gunicorn.log" 2>&1 &
APP_PID=$!
until curl -sf -o /dev/null "http://127.0.0.1:$APP_PORT/healthz"; do sleep 0.2; done

probe "database up, /incidents/" /incidents/
probe "database up, /readyz" /readyz

echo "== stopping PostgreSQL"
as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null
probe "database down, /incidents/" /incidents/
probe "database down, /readyz" /readyz
probe "database down, /healthz" /healthz

echo "== starting PostgreSQL again (same gunicorn process, pid $APP_PID)"
as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg" -o "-p $PG_PORT -k $WORK/sock -c listen_addresses=127.0.0.1" -l "$WORK/sock/pg.log" -w start >/dev/null
started=$(date +%s.%N)
until [[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-Proto: https' -H "Cookie: sessionid=$SESSION" \
        "http://127.0.0.1:$APP_PORT/incidents/")" == 200 ]]; do sleep 0.1; done
printf "first 200 after restart: %.3f s\n" "$(echo "$(date +%s.%N) - $started" | bc)"
probe "database back, /incidents/" /incidents/
probe "database back, /readyz" /readyz
kill -0 "$APP_PID" && echo "gunicorn master $APP_PID still running: recovered without a restart"
echo "== tracebacks in the logs: $(cat "$WORK/gunicorn.log" "$WORK"/logs/*.log | grep -c Traceback || true)"
