#!/usr/bin/env bash
# Introspection benchmark (RFC 7662), over HTTP against the release example
# server: POST /auth/introspect for one live ES256 access token (the cached
# path: signature from the verified-token cache, the revocation store asked
# every time), for a garbage token (inactive), and for a wrong client
# secret (401), beside GET /healthz of the same server for a ratio.
#
#   bench/introspect.sh          # 5 s per wrk target
#   SECS=3 bench/introspect.sh
#
# Needs wrk and curl.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
secs="${SECS:-5}"
conns="${CONNECTIONS:-32}"
bin="$here/target/release/example-axum-server"
cargo build --release -j"${BENCH_JOBS:-2}" -p example-axum-server --manifest-path "$here/Cargo.toml" >&2
work="$(mktemp -d)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=4711
client="bench:bench-introspection-secret"
# One runtime thread for the server, the other core for wrk.
TOKIO_WORKER_THREADS=1 RUST_LOG=error "$bin" --addr "127.0.0.1:$port" --alg ES256 \
    --introspection-client "$client" &
pid="$!"
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.1
done
token="$(curl -s -H 'content-type: application/json' \
    -d '{"username":"alice","password":"alice-password"}' \
    "http://127.0.0.1:$port/auth/login" | sed -E 's/.*"accessToken":"([^"]+)".*/\1/')"
basic="$(printf '%s' "$client" | base64 -w0)"
wrong="$(printf '%s' "bench:not-the-secret-at-all" | base64 -w0)"
answer="$(curl -s -u "$client" -d "token=$token" "http://127.0.0.1:$port/auth/introspect")"
case "$answer" in
*'"active":true'*) ;;
*) echo "the token is not active: $answer" >&2; exit 1 ;;
esac

script() { # file, authorization, token
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $2"
wrk.body = "token=$3"
EOF
}
script "$work/active.lua" "$basic" "$token"
script "$work/garbage.lua" "$basic" "not-a-token"
script "$work/wrong.lua" "$wrong" "$token"

# Requests/s and non-2xx answers of wrk against the introspection endpoint
# (or $2, a URL) with the script $1.
rate() {
    local args=(-t1 "-c$conns" "-d${secs}s")
    [ -n "$1" ] && args+=(-s "$1")
    wrk "${args[@]}" "${2:-http://127.0.0.1:$port/auth/introspect}" >"$work/wrk.txt"
    local rps non2xx
    rps="$(awk '/Requests\/sec/{print $2}' "$work/wrk.txt")"
    non2xx="$(awk '/Non-2xx/{print $5}' "$work/wrk.txt")"
    echo "$rps ${non2xx:-0}"
}

read -r health _ < <(rate "" "http://127.0.0.1:$port/healthz")
read -r active bad_active < <(rate "$work/active.lua")
read -r garbage bad_garbage < <(rate "$work/garbage.lua")
read -r refused ok_refused < <(rate "$work/wrong.lua")
[ "$bad_active" = 0 ] && [ "$bad_garbage" = 0 ] || echo "warning: non-2xx answers" >&2
echo "wrk -t1 -c$conns -d${secs}s, loopback; server: 1 runtime thread"
echo
echo "| request | req/s | x /healthz |"
echo "|---|---|---|"
printf '| GET /healthz | %.0f | 1.00 |\n' "$health"
printf '| introspect a live ES256 token (active) | %.0f | %.2f |\n' "$active" "$(awk "BEGIN{print $active / $health}")"
printf '| introspect garbage (inactive) | %.0f | %.2f |\n' "$garbage" "$(awk "BEGIN{print $garbage / $health}")"
printf '| wrong client secret (401, %s answers) | %.0f | %.2f |\n' "$ok_refused" "$refused" "$(awk "BEGIN{print $refused / $health}")"
