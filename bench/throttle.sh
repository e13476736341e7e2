#!/usr/bin/env bash
# Login throttle benchmark, over HTTP against the release example server:
#
# 1. throttled refusals per second (wrk: POST /auth/login for a pair in a
#    wait, every answer a 429), on the memory store and on Redis, beside
#    GET /healthz of the same server (the cheapest route it has) for a ratio;
# 2. what the throttle adds to an accepted login: sequential correct
#    logins, alternating between a server with the throttle and one with
#    --no-login-throttle, mean latency of each and their ratio.
#
#   bench/throttle.sh            # 5 s per wrk target, 60 logins per server
#   SECS=3 LOGINS=30 bench/throttle.sh
#
# Needs wrk and python3; redis-server for the Redis row (skipped without).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
secs="${SECS:-5}"
logins="${LOGINS:-60}"
conns="${CONNECTIONS:-32}"
bin="$here/target/release/example-axum-server"
cargo build --release -j"${BENCH_JOBS:-2}" -p example-axum-server --manifest-path "$here/Cargo.toml" >&2
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# One runtime thread for the server, the other core for the client.
start() { # port, flags...
    local port="$1"
    shift
    TOKIO_WORKER_THREADS=1 RUST_LOG=error "$bin" --addr "127.0.0.1:$port" "$@" &
    pids+=("$!")
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return 0
        sleep 0.1
    done
    echo "the server on $port did not start" >&2
    exit 1
}

cat >"$work/login.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"alice","password":"wrong"}'
EOF

# Requests/s of wrk against $1 (a URL), with the Lua script $2 if given;
# checks every answer has the expected kind (non-2xx for refusals).
rate() {
    local url="$1" script="${2:-}"
    local args=(-t1 "-c$conns" "-d${secs}s" --latency)
    [ -n "$script" ] && args+=(-s "$script")
    wrk "${args[@]}" "$url" >"$work/wrk.txt"
    local rps non2xx total
    rps="$(awk '/Requests\/sec/{print $2}' "$work/wrk.txt")"
    total="$(awk '/requests in/{print $1}' "$work/wrk.txt")"
    non2xx="$(awk '/Non-2xx/{print $5}' "$work/wrk.txt")"
    echo "$rps ${total:-0} ${non2xx:-0}"
}

# Puts alice at 127.0.0.1 in a wait on the server at port $1.
prime() {
    for _ in 1 2 3 4 5 6; do
        curl -s -o /dev/null -H 'content-type: application/json' \
            -d '{"username":"alice","password":"wrong"}' "http://127.0.0.1:$1/auth/login"
    done
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
        -d '{"username":"alice","password":"wrong"}' "http://127.0.0.1:$1/auth/login")"
    [ "$code" = 429 ] || { echo "not throttled: $code" >&2; exit 1; }
}

start 4701 --login-max-wait 15m
prime 4701
read -r health _ _ < <(rate "http://127.0.0.1:4701/healthz")
read -r refused total non2xx < <(rate "http://127.0.0.1:4701/auth/login" "$work/login.lua")
[ "$total" = "$non2xx" ] || echo "warning: $((total - non2xx)) answers were 2xx" >&2
echo "| route | store | req/s | x /healthz |"
echo "|---|---|---|---|"
printf '| GET /healthz | memory | %.0f | 1.00 |\n' "$health"
printf '| throttled POST /auth/login (429) | memory | %.0f | %.2f |\n' "$refused" \
    "$(awk "BEGIN{print $refused / $health}")"

if command -v redis-server >/dev/null; then
    redis-server --port 4790 --save '' --appendonly no --daemonize no >/dev/null &
    pids+=("$!")
    sleep 0.5
    start 4702 --redis-url redis://127.0.0.1:4790
    prime 4702
    read -r refused_r total non2xx < <(rate "http://127.0.0.1:4702/auth/login" "$work/login.lua")
    [ "$total" = "$non2xx" ] || echo "warning: $((total - non2xx)) answers were 2xx" >&2
    printf '| throttled POST /auth/login (429) | Redis | %.0f | %.2f |\n' "$refused_r" \
        "$(awk "BEGIN{print $refused_r / $health}")"
fi

# Accepted logins: the same server twice, throttle on and off.
start 4703
start 4704 --no-login-throttle
python3 - "$logins" <<'EOF'
import http.client, json, sys, time
n = int(sys.argv[1])
body = json.dumps({"username": "alice", "password": "alice-password"})
conns = {p: http.client.HTTPConnection("127.0.0.1", p) for p in (4703, 4704)}
spent = {4703: 0.0, 4704: 0.0}
def login(port):
    c = conns[port]
    t = time.perf_counter()
    c.request("POST", "/auth/login", body, {"content-type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
    return time.perf_counter() - t
for port in (4703, 4704):  # warm-up
    login(port)
for i in range(n):
    order = (4703, 4704) if i % 2 == 0 else (4704, 4703)
    for port in order:
        spent[port] += login(port)
on, off = spent[4703] / n * 1000, spent[4704] / n * 1000
print()
print("| accepted login | mean ms |")
print("|---|---|")
print(f"| throttle on | {on:.2f} |")
print(f"| throttle off | {off:.2f} |")
print(f"| on / off | {on / off:.3f} |")
EOF
