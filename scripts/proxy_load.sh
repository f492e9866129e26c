#!/usr/bin/env bash
# Requests/s through nginx `auth_request` (docs/integrations/nginx.conf, Tessera as the check) to
# an upstream, beside nginx straight to the same upstream, in the same run; with a session
# cookie and with an access token (JWT).
#
#   scripts/proxy_load.sh [seconds] [connections]
#
# Needs nginx and wrk (Debian: apt-get install nginx wrk). Only ever against 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
TESSERA_PORT=18080
UPSTREAM_PORT=18181
GUARDED_PORT=18282
STRAIGHT_PORT=18383
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in nginx wrk; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install $tool)" >&2; exit 1; }
done
cargo build --release --quiet --bin tessera --example bare_axum

site="http://127.0.0.1:$GUARDED_PORT"
(cd "$WORK" && TESSERA_SERVER__LISTEN="127.0.0.1:$TESSERA_PORT" \
  TESSERA_SERVER__PUBLIC_URL="$site" TESSERA_SERVER__TRUSTED_PROXIES=127.0.0.1/32 \
  TESSERA_LIMITS__LOGIN_PER_IP="100000/min" RUST_LOG=warn \
  exec "$OLDPWD/target/release/tessera" serve >"$WORK/tessera.log" 2>&1) &
PIDS+=($!)
./target/release/examples/bare_axum "127.0.0.1:$UPSTREAM_PORT" >"$WORK/bare.log" 2>&1 &
PIDS+=($!)

# The documented config, placeholders filled in, plus a plain proxy to the same upstream.
sed -e "s/__LISTEN__/127.0.0.1:$GUARDED_PORT/" -e "s/__SERVER_NAME__/127.0.0.1/" \
  -e "s/__TESSERA__/127.0.0.1:$TESSERA_PORT/" -e "s/__APP__/127.0.0.1:$UPSTREAM_PORT/" \
  docs/integrations/nginx.conf >"$WORK/site.conf"
user=""; [ "$(id -u)" = 0 ] && user="user root;"
cat >"$WORK/nginx.conf" <<CONF
$user
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/body; proxy_temp_path $WORK/proxy; fastcgi_temp_path $WORK/fcgi;
  uwsgi_temp_path $WORK/uwsgi; scgi_temp_path $WORK/scgi;
  upstream straight_app { server 127.0.0.1:$UPSTREAM_PORT; keepalive 32; }
  server {
    listen 127.0.0.1:$STRAIGHT_PORT;
    location / {
      proxy_pass http://straight_app; proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
  include $WORK/site.conf;
}
CONF
nginx -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$TESSERA_PORT/readyz" >/dev/null && break; sleep 0.1; done
for _ in $(seq 1 50); do curl -fs -o /dev/null "http://127.0.0.1:$STRAIGHT_PORT/" && break; sleep 0.1; done

curl -fs -o /dev/null -H 'content-type: application/json' \
  -d '{"email":"load@example.com","password":"correct horse battery"}' "$site/v1/users"
cookie="$(curl -fs -D - -o /dev/null -H 'content-type: application/json' \
  -d '{"email":"load@example.com","password":"correct horse battery"}' "$site/v1/session" \
  | sed -n 's/^set-cookie: \(tessera_session=[^;]*\);.*/\1/ip' | tr -d '\r')"
[ -n "$cookie" ] || { echo "login failed" >&2; exit 1; }
access="$(curl -fs -H 'content-type: application/x-www-form-urlencoded' \
  -d 'grant_type=password&username=load%40example.com&password=correct+horse+battery' "$site/v1/token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "$site/")" = 200 ] \
  || { echo "the guarded path does not answer 200" >&2; exit 1; }

run() {
  local name="$1"; shift
  local out rps p50 p99 non2xx
  out="$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")"
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  non2xx="$(awk '/Non-2xx/ {print $5}' <<<"$out")"
  printf '%-22s %10s req/s   p50 %-8s p99 %-8s %s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:+non-2xx: $non2xx}"
}

echo "date: $(date -u +%FT%TZ)  cpus: $(nproc)  duration: ${DURATION}s  connections: $CONNECTIONS"
run nginx_straight "http://127.0.0.1:$STRAIGHT_PORT/"
run auth_request_cookie -H "Cookie: $cookie" "$site/"
run auth_request_jwt -H "Authorization: Bearer $access" "$site/"
run nginx_straight_again "http://127.0.0.1:$STRAIGHT_PORT/"
