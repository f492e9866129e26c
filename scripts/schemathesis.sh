#!/usr/bin/env bash
# The served OpenAPI document is valid, and schemathesis finds nothing over all of its
# operations, against a real server.
#
#   scripts/schemathesis.sh              the CI budget (fixed examples per operation, fixed seed)
#   scripts/schemathesis.sh --long       a longer local run (more examples, random seed)
#   scripts/schemathesis.sh --validate   only the validity check of GET /openapi.json
#
#   TESSERA_BIN=path/to/tessera   the binary to run (else target/release/tessera, built when
#                                 missing)
#   SCHEMATHESIS_EXAMPLES=N       examples per operation (default 25; --long 300)
#   SCHEMATHESIS_SEED=N           the seed (default fixed in CI, random with --long)
#
# Starts `tessera serve` on 127.0.0.1 (a free port), on a throw-away SQLite file, with an admin
# key and raised rate limits (so the run tests behaviour, not the throttles; a 429 is still
# documented and accepted). Creates one user and one registered client; the credential of each
# security scheme (admin key, client Basic, a user's `tss_` session token — logged in again when
# a test revoked it, a new user when a test locked it) comes from scripts/schemathesis_hooks.py. Runs every check
# (`--checks all`) in every phase, stateful links included (sign-up → login → session,
# admin user → roles/claims/sessions, client → delete, token → refresh/introspect/revoke).
#
# Fails when schemathesis reports a failure, when the server logged a panic or a 5xx, or when
# it is not alive at the end. Needs schemathesis (pinned: SCHEMATHESIS_VERSION below, installed
# by .ci/run) and openapi-spec-validator. Only ever against 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
SCHEMATHESIS_VERSION="4.32.5"

LONG=0
VALIDATE_ONLY=0
case "${1:-}" in
  --long) LONG=1 ;;
  --validate) VALIDATE_ONLY=1 ;;
  "") ;;
  *) echo "usage: $0 [--long | --validate]" >&2; exit 2 ;;
esac
if [ "$LONG" = 1 ]; then
  EXAMPLES="${SCHEMATHESIS_EXAMPLES:-300}"
  SEED="${SCHEMATHESIS_SEED:-$RANDOM$RANDOM}"
else
  EXAMPLES="${SCHEMATHESIS_EXAMPLES:-25}"
  SEED="${SCHEMATHESIS_SEED:-20261201}"
fi

installed="$(schemathesis --version 2>/dev/null | awk '{print $NF}' || true)"
if [ "$VALIDATE_ONLY" = 0 ] && [ "$installed" != "$SCHEMATHESIS_VERSION" ]; then
  echo "schemathesis $SCHEMATHESIS_VERSION is required (found: ${installed:-none});" \
    "python3 -m pip install 'schemathesis==$SCHEMATHESIS_VERSION'" >&2
  exit 1
fi

BIN="${TESSERA_BIN:-}"
if [ -z "$BIN" ]; then
  BIN="target/release/tessera"
  [ -x "$BIN" ] || cargo build --release -p tessera-server --bin tessera
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

WORK="$(mktemp -d)"
# The JUnit report, the server's log and its database stay here after the run.
REPORT_DIR="${SCHEMATHESIS_REPORT_DIR:-$PWD/target/schemathesis}"
mkdir -p "$REPORT_DIR"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  cp "$WORK/server.log" "$REPORT_DIR/server.log" 2>/dev/null || true
  rm -f "$REPORT_DIR"/tessera.db*
  cp "$WORK"/tessera.db* "$REPORT_DIR/" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ADMIN_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(36))')"
LIMIT="100000/min"
(
  cd "$WORK"
  export TESSERA_SERVER__LISTEN="127.0.0.1:0"
  export TESSERA_STORE__URL="sqlite://$WORK/tessera.db"
  export TESSERA_ADMIN__API_KEY="$ADMIN_KEY"
  for key in LOGIN_PER_IP LOGIN_PER_ACCOUNT LOGIN_ATTEMPTS_PER_IP PASSWORD_CHANGE_PER_USER \
    SIGNUP_PER_IP SIGNUP_GLOBAL ADMIN_KEY_PER_IP CLIENT_SECRET_PER_IP PASSWORD_RESET_PER_IP \
    PASSWORD_RESET_PER_ACCOUNT VERIFICATION_RESEND_PER_ACCOUNT EMAIL_CHANGE_PER_USER; do
    export "TESSERA_LIMITS__$key=$LIMIT"
  done
  exec "$BIN" serve
) >"$WORK/server.log" 2>&1 &
PID=$!

ADDR=""
for _ in $(seq 1 100); do
  ADDR="$(grep -o 'listening on [0-9.:]*' "$WORK/server.log" | head -n1 | awk '{print $3}' || true)"
  [ -n "$ADDR" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "the server did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$WORK/server.log" >&2; echo "the server did not report its address" >&2; exit 1; }
BASE="http://$ADDR"

# The validity check: openapi-spec-validator on the served document, plus what it leaves out.
python3 scripts/check_openapi.py "$BASE/openapi.json"
[ "$VALIDATE_ONLY" = 1 ] && exit 0

# One user and one registered client for the authenticated operations.
USER_EMAIL="schemathesis@example.com"
USER_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
curl -fsS -o /dev/null -H 'Content-Type: application/json' \
  -d "{\"email\":\"$USER_EMAIL\",\"password\":\"$USER_PASSWORD\"}" "$BASE/v1/users"
CLIENT_JSON="$(curl -fsS -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
  -d '{"name":"schemathesis"}' "$BASE/v1/admin/clients")"
CLIENT_ID="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$CLIENT_JSON")"
CLIENT_SECRET="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$CLIENT_JSON")"


# Credentials per security scheme come from the hooks (see there why not from the toml).
export SCHEMATHESIS_HOOKS="schemathesis_hooks"
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}"
export TESSERA_SCHEMATHESIS_BASE="$BASE"
export TESSERA_SCHEMATHESIS_EMAIL="$USER_EMAIL"
export TESSERA_SCHEMATHESIS_PASSWORD="$USER_PASSWORD"
export TESSERA_SCHEMATHESIS_ADMIN_KEY="$ADMIN_KEY"
export TESSERA_SCHEMATHESIS_CLIENT_ID="$CLIENT_ID"
export TESSERA_SCHEMATHESIS_CLIENT_SECRET="$CLIENT_SECRET"

echo "schemathesis $SCHEMATHESIS_VERSION against $BASE: $EXAMPLES examples per operation, seed $SEED"
status=0
schemathesis --config-file scripts/schemathesis.toml run "$BASE/openapi.json" \
  --checks all \
  --max-examples "$EXAMPLES" \
  --seed "$SEED" \
  --workers 1 \
  --request-timeout 30 \
  --suppress-health-check too_slow \
  --report junit --report-dir "$REPORT_DIR" \
  || status=$?

if ! kill -0 "$PID" 2>/dev/null; then
  echo "the server died during the run" >&2
  status=1
fi
if grep -Eq 'panicked|handler panicked' "$WORK/server.log"; then
  echo "the server panicked:" >&2
  grep -E -A3 'panicked' "$WORK/server.log" | head -40 >&2
  status=1
fi
if grep -Eq 'request failed' "$WORK/server.log"; then
  echo "the server logged internal errors:" >&2
  grep -E 'request failed' "$WORK/server.log" | head -20 >&2
  status=1
fi
exit "$status"
