#!/usr/bin/env bash
# HTTP load figures, each beside the bare-axum baseline measured in the same run.
#
#   scripts/load.sh [seconds] [connections]
#
# Needs wrk (Debian: apt-get install wrk). Builds release binaries, starts a Tessera server on
# a throw-away SQLite file and the bare axum example, and runs wrk against:
#   baseline          GET /me          on bare axum ({"ok":true})
#   session_cookie    GET /v1/session  with a session cookie
#   check_cookie      GET /v1/check    with a session cookie
#   check_jwt         GET /v1/check    with an access token (when the token grant exists)
# Only ever against 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
TESSERA_PORT=18080
BASELINE_PORT=18181
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bin tessera --example bare_axum --example refresh_load

(cd "$WORK" && TESSERA_SERVER__LISTEN="127.0.0.1:$TESSERA_PORT" \
  TESSERA_LIMITS__LOGIN_PER_IP="100000/min" RUST_LOG=warn \
  exec "$OLDPWD/target/release/tessera" serve >"$WORK/tessera.log" 2>&1) &
PIDS+=($!)
./target/release/examples/bare_axum "127.0.0.1:$BASELINE_PORT" >"$WORK/bare.log" 2>&1 &
PIDS+=($!)

base="http://127.0.0.1:$TESSERA_PORT"
for _ in $(seq 1 50); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$BASELINE_PORT/" >/dev/null && break; sleep 0.1; done

curl -fs -o /dev/null -H 'content-type: application/json' \
  -d '{"email":"load@example.com","password":"correct horse battery"}' "$base/v1/users"
cookie="$(curl -fs -D - -o /dev/null -H 'content-type: application/json' \
  -d '{"email":"load@example.com","password":"correct horse battery"}' "$base/v1/session" \
  | sed -n 's/^set-cookie: \(tessera_session=[^;]*\);.*/\1/ip' | tr -d '\r')"
[ -n "$cookie" ] || { echo "login failed" >&2; exit 1; }
access="$(curl -fs -H 'content-type: application/x-www-form-urlencoded' \
  -d 'grant_type=password&username=load%40example.com&password=correct+horse+battery' "$base/v1/token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin).get("access_token",""))' 2>/dev/null || true)"

run() {
  local name="$1"; shift
  local out
  out="$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")"
  local rps p50 p99
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  local non2xx
  non2xx="$(awk '/Non-2xx/ {print $5}' <<<"$out")"
  printf '%-16s %10s req/s   p50 %-8s p99 %-8s %s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:+non-2xx: $non2xx}"
}

echo "date: $(date -u +%FT%TZ)  cpus: $(nproc)  duration: ${DURATION}s  connections: $CONNECTIONS"
run baseline "http://127.0.0.1:$BASELINE_PORT/me"
run session_cookie -H "Cookie: $cookie" "$base/v1/session"
run check_cookie -H "Cookie: $cookie" "$base/v1/check"
if [ -n "$access" ]; then
  run check_jwt -H "Authorization: Bearer $access" "$base/v1/check"
fi
# CPU seconds the server process used (utime + stime from /proc), to report grants per core.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
tessera_pid="${PIDS[0]}"
before="$(cpu_seconds "$tessera_pid")"
./target/release/examples/refresh_load "$base" "$DURATION" 16
after="$(cpu_seconds "$tessera_pid")"
awk -v b="$before" -v a="$after" -v d="$DURATION" \
  'BEGIN { printf "refresh_grant    server CPU: %.2f s over %s s = %.2f cores\n", a - b, d, (a - b) / d }'
