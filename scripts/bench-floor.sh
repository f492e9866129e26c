#!/usr/bin/env bash
# Tessera's hot paths next to their floors, all measured in one run, printed as a markdown table.
#
#   scripts/bench-floor.sh [seconds] [connections] [rounds]        (defaults: 5 32 3)
#   BENCH_BIN=/tmp/before scripts/bench-floor.sh                    (binaries built earlier)
#
# Floors and cases (wrk -t2 -c<connections>, <seconds> per round, rounds interleaved so every
# ratio compares figures taken moments apart):
#   floor: bare axum GET /me -> {"ok":true}  vs  GET /v1/session (cookie), GET /v1/session
#          (Bearer tss_), GET /v1/check (cookie), GET /v1/check (Bearer access JWT)
#   floor: raw argon2id verifies/s, Tessera's parameters, one thread per hashing slot
#          vs  POST /v1/session (password login) and POST /v1/token grant_type=password
#   floor: in-memory rotation toy  vs  POST /v1/token grant_type=refresh_token, <connections>
#          chains each rotating its own token back to back (examples/refresh_load.rs)
# The store is a throw-away SQLite file unless TESSERA_STORE__URL is set (e.g. a Postgres URL
# of an empty database). Needs wrk (apt-get install wrk) and python3. Only ever 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-5}"
CONNECTIONS="${2:-32}"
ROUNDS="${3:-3}"
TESSERA_PORT=18080
FLOOR_PORT=18181
TOY_PORT=18282
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
# BENCH_BIN=<dir> runs binaries built earlier (<dir>/tessera, <dir>/examples/…), e.g. a copy of
# target/release from before a change, so that before and after can run back to back.
if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$(cd "$BENCH_BIN" && pwd)"
else
  cargo build --release --quiet --bin tessera --example bare_axum --example rotation_toy \
    --example refresh_load --example argon2_rate
  BIN="$PWD/target/release"
fi

(cd "$WORK" && TESSERA_SERVER__LISTEN="127.0.0.1:$TESSERA_PORT" \
  TESSERA_LIMITS__LOGIN_PER_IP="1000000/min" TESSERA_LIMITS__LOGIN_ATTEMPTS_PER_IP="1000000/min" \
  TESSERA_LIMITS__LOGIN_PER_ACCOUNT="1000000/min" \
  RUST_LOG=warn exec "$BIN/tessera" serve >"$WORK/tessera.log" 2>&1) &
PIDS+=($!)
TESSERA_PID=$!
"$BIN/examples/bare_axum" "127.0.0.1:$FLOOR_PORT" >"$WORK/floor.log" 2>&1 &
PIDS+=($!)
"$BIN/examples/rotation_toy" "127.0.0.1:$TOY_PORT" >"$WORK/toy.log" 2>&1 &
PIDS+=($!)

base="http://127.0.0.1:$TESSERA_PORT"
wait_up() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
wait_up "$base/readyz" || { cat "$WORK/tessera.log" >&2; exit 1; }
wait_up "http://127.0.0.1:$FLOOR_PORT/me"
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$TOY_PORT/" && break; sleep 0.1; done

EMAIL="load@example.com"
PASSWORD="correct horse battery"
curl -fs -o /dev/null -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$base/v1/users"
cookie="$(curl -fs -D - -o /dev/null -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$base/v1/session" \
  | sed -n 's/^set-cookie: \(tessera_session=[^;]*\);.*/\1/ip' | tr -d '\r')"
tss="$(curl -fs -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"transport\":\"body\"}" "$base/v1/session" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_token"])')"
jwt="$(curl -fs -H 'content-type: application/x-www-form-urlencoded' \
  -d 'grant_type=password&username=load%40example.com&password=correct+horse+battery' "$base/v1/token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
[ -n "$cookie" ] && [ -n "$tss" ] && [ -n "$jwt" ] || { echo "could not sign in" >&2; exit 1; }

cat >"$WORK/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"$EMAIL","password":"$PASSWORD","transport":"body"}'
LUA
cat >"$WORK/grant.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=password&username=load%40example.com&password=correct+horse+battery"
LUA

RESULTS="$WORK/results"
: >"$RESULTS"
# One wrk run; appends "case round req/s p50 p99 non-2xx" to the results.
load() {
  local name="$1" round="$2"; shift 2
  local out
  out="$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")"
  awk -v name="$name" -v round="$round" '
    /Requests\/sec/ {rps = $2} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
    /Non-2xx/ {bad = $5}
    END {printf "%s %s %s %s %s %s\n", name, round, rps, p50, p99, bad + 0}' <<<"$out" >>"$RESULTS"
  tail -1 "$RESULTS" >&2
}

echo "date: $(date -u +%FT%TZ)  cpus: $(nproc)  store: ${TESSERA_STORE__URL:-sqlite (throw-away file)}" >&2
echo "load: wrk -t2 -c$CONNECTIONS, ${DURATION}s x $ROUNDS rounds" >&2
for round in $(seq 1 "$ROUNDS"); do
  load floor_me "$round" "http://127.0.0.1:$FLOOR_PORT/me"
  load session_cookie "$round" -H "Cookie: $cookie" "$base/v1/session"
  load session_tss "$round" -H "Authorization: Bearer $tss" "$base/v1/session"
  load check_cookie "$round" -H "Cookie: $cookie" "$base/v1/check"
  load check_jwt "$round" -H "Authorization: Bearer $jwt" "$base/v1/check"
done
for round in $(seq 1 "$ROUNDS"); do
  rate="$("$BIN/examples/argon2_rate" "$DURATION" | awk '{print $2}')"
  echo "argon2_verify $round $rate - - 0" | tee -a "$RESULTS" >&2
  load password_login "$round" -s "$WORK/login.lua" "$base/v1/session"
  load password_grant "$round" -s "$WORK/grant.lua" "$base/v1/token"
done
# CPU counted for refresh grants: the server's, and a local Postgres's own processes when the
# store is Postgres (the database does part of the work).
cpu_pids="$TESSERA_PID"
case "${TESSERA_STORE__URL:-}" in
  postgres*) cpu_pids="$cpu_pids,$(pgrep -d, -x postgres || true)" ;;
esac
for round in $(seq 1 "$ROUNDS"); do
  "$BIN/examples/refresh_load" "http://127.0.0.1:$TOY_PORT" "$DURATION" "$CONNECTIONS" \
    | awk -v r="$round" '{printf "toy_refresh %s %s %s %s 0\n", r, $2, $5, $7}' | tee -a "$RESULTS" >&2
  "$BIN/examples/refresh_load" "$base" "$DURATION" "$CONNECTIONS" "$cpu_pids" >"$WORK/refresh.out"
  awk -v r="$round" '{printf "refresh_grant %s %s %s %s 0\n", r, $2, $5, $7}' "$WORK/refresh.out" \
    | tee -a "$RESULTS" >&2
  awk -v r="$round" '{sub(/s$/, "", $9); printf "refresh_cpu %s %s - - 0\n", r, $9}' "$WORK/refresh.out" >>"$RESULTS"
done

python3 - "$RESULTS" "$DURATION" "$CONNECTIONS" "$ROUNDS" "${TESSERA_STORE__URL:-sqlite}" <<'PY'
import statistics, sys, datetime, os
path, duration, conns, rounds, store = sys.argv[1:6]
rows = [l.split() for l in open(path) if l.strip()]
def ms(v):
    if v in ("-", None): return None
    v = v.strip()
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit): return float(v[: -len(unit)]) * f
    return float(v)
by = {}
for name, rnd, rps, p50, p99, bad in rows:
    by.setdefault(name, {})[rnd] = (rps, p50, p99, bad)
def med(xs): return statistics.median(xs) if xs else float("nan")
def series(name, i): return [float(v[i]) for v in by.get(name, {}).values()]
def ratio(case, floor):
    out = []
    for rnd, v in by.get(case, {}).items():
        if rnd in by.get(floor, {}): out.append(float(v[0]) / float(by[floor][rnd][0]))
    return med(out)
print(f"date {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
      f"store {store.split('://')[0]}, wrk -t2 -c{conns}, {duration} s x {rounds} rounds; medians of the rounds; "
      "ratio = median of the per-round ratios to the floor measured in the same round")
print()
print("| case | rate | floor | ratio | p50 | p99 | non-2xx |")
print("|---|---|---|---|---|---|---|")
labels = {
    "floor_me": ("bare axum `GET /me`", None),
    "session_cookie": ("`GET /v1/session`, cookie", "floor_me"),
    "session_tss": ("`GET /v1/session`, `Bearer tss_…`", "floor_me"),
    "check_cookie": ("`GET /v1/check`, cookie", "floor_me"),
    "check_jwt": ("`GET /v1/check`, `Bearer` access JWT", "floor_me"),
    "argon2_verify": ("raw argon2id verify, one thread per slot", None),
    "password_login": ("`POST /v1/session` (password login)", "argon2_verify"),
    "password_grant": ("`POST /v1/token` password grant", "argon2_verify"),
    "toy_refresh": ("in-memory rotation toy", None),
    "refresh_grant": (f"`POST /v1/token` refresh grant, {conns} chains", "toy_refresh"),
}
for name, (label, floor) in labels.items():
    if name not in by: continue
    vals = list(by[name].values())
    rate = med(series(name, 0))
    p50 = [ms(v[1]) for v in vals if ms(v[1]) is not None]
    p99 = [ms(v[2]) for v in vals if ms(v[2]) is not None]
    bad = sum(int(float(v[3])) for v in vals)
    unit = "/s"
    fl = f"{med(series(floor, 0)):,.0f}{unit}" if floor else "—"
    r = f"**{ratio(name, floor) * 100:.1f} %**" if floor else "100 %"
    f50 = f"{med(p50):.2f} ms" if p50 else "—"
    f99 = f"{med(p99):.2f} ms" if p99 else "—"
    print(f"| {label} | {rate:,.0f}{unit} | {fl} | {r} | {f50} | {f99} | {bad} |")
cpu = [float(v[0]) for v in by.get("refresh_cpu", {}).values()]
if cpu:
    grants = series("refresh_grant", 0)
    per_core = med([g * float(duration) / c for g, c in zip(grants, cpu) if c > 0])
    print()
    counted = "the tessera process and the local postgres processes" if store.startswith("postgres") else "the tessera process, SQLite included"
    print(f"Refresh grants per CPU-second ({counted}, utime+stime during the timed phase): "
          f"**{per_core:,.0f}**; CPU per round: "
          + ", ".join(f"{c:.2f} s" for c in cpu))
PY
