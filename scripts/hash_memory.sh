#!/usr/bin/env bash
# Resident memory after a login burst, beside the idle baseline measured in the same run.
#
#   scripts/hash_memory.sh [logins] [concurrency] [hashing_slots]
#
# Builds the release binary, starts `tessera serve` on a throw-away SQLite file, reads VmRSS
# from /proc/PID/status while idle, creates one account, fires the logins (Python, stdlib only)
# and reads VmRSS again. Target (issue 9, item 6): after ≤ idle + slots × 19 MiB + 10 MB.
# Only ever against 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
LOGINS="${1:-1000}"
CONCURRENCY="${2:-32}"
SLOTS="${3:-$(nproc)}"
PORT=18090
WORK="$(mktemp -d)"
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet -p tessera-server --bin tessera
TESSERA_SERVER__LISTEN="127.0.0.1:$PORT" \
  TESSERA_STORE__URL="sqlite://$WORK/tessera.db" \
  TESSERA_PASSWORD__HASHING_SLOTS="$SLOTS" \
  TESSERA_LIMITS__LOGIN_PER_IP="100000/min" RUST_LOG=warn \
  ./target/release/tessera serve >"$WORK/tessera.log" 2>&1 &
PID=$!
base="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done
rss_kb() { awk -v key="$1:" '$1==key {print $2}' "/proc/$PID/status"; }

sleep 1
idle="$(rss_kb VmRSS)"
curl -fs -o /dev/null -H 'content-type: application/json' \
  -d '{"email":"burst@example.com","password":"correct horse battery"}' "$base/v1/users"

python3 - "$base" "$LOGINS" "$CONCURRENCY" <<'PY'
import collections, concurrent.futures, json, sys, time, urllib.error, urllib.request
base, logins, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = json.dumps({"email": "burst@example.com", "password": "correct horse battery",
                   "transport": "body"}).encode()
def login(_):
    req = urllib.request.Request(base + "/v1/session", data=body,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
start = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
    codes = collections.Counter(pool.map(login, range(logins)))
print(f"{logins} logins at concurrency {concurrency} in {time.monotonic() - start:.1f}s: "
      f"statuses {dict(codes)}")
PY

sleep 2
after="$(rss_kb VmRSS)"
peak="$(rss_kb VmHWM)"
bound=$(( idle + SLOTS * 19 * 1024 + 10 * 1000 ))
echo "hashing slots: $SLOTS"
echo "idle VmRSS:    $(( idle / 1024 )) MiB ($idle kB)"
echo "after VmRSS:   $(( after / 1024 )) MiB ($after kB); peak VmHWM $(( peak / 1024 )) MiB"
echo "target:        ≤ $(( bound / 1024 )) MiB (idle + $SLOTS × 19 MiB + 10 MB)"
if [ "$after" -le "$bound" ]; then echo "result:        within target"; else echo "result:        OVER target"; exit 1; fi
