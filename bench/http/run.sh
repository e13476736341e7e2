#!/usr/bin/env bash
# HTTP load benchmark: the same route with no auth, behind our AuthLayer
# (with its verified-token cache, without it, on the Redis store) and behind
# jwt-authorizer, for HS256 and ES256, with one reused token and with
# DISTINCT different tokens; wrk on loopback, one target after the other.
# Prints requests/s, p99 latency, errors, and the ratios to bare and to
# jwt-authorizer from the same run.
#
#   bench/http/run.sh              # 8 s per target (~3 min with Redis)
#   SECS=3 bench/http/run.sh       # a quick look
#
# Settings (environment): SECS (8) seconds measured per target, WARMUP (1)
# seconds of unmeasured load before each, ROUNDS (1) passes over every
# target (the table shows the median of each), CONNECTIONS (32), DISTINCT
# (10000) tokens in the distinct mode, REDIS_URL (a Redis to use instead of
# starting a throwaway redis-server), BENCH_JOBS (2) the build's -j,
# TOKIO_WORKER_THREADS (one per core but one, which wrk gets) the server's
# threads.
#
# Needs wrk (apt-get install -y wrk); redis-server for the Redis rows.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
secs="${SECS:-8}"
warmup="${WARMUP:-1}"
rounds="${ROUNDS:-1}"
conns="${CONNECTIONS:-32}"
distinct="${DISTINCT:-10000}"
cores="$(nproc)"
# wrk has a thread of its own: the server gets the other cores, so the two
# do not take turns on one.
threads="${TOKIO_WORKER_THREADS:-$((cores > 1 ? cores - 1 : 1))}"
for v in secs warmup rounds conns distinct threads; do
    if ! [[ "${!v}" =~ ^[0-9]+$ ]]; then
        echo "$v must be a whole number, not '${!v}'" >&2
        exit 2
    fi
done
if [ "$secs" -eq 0 ] || [ "$rounds" -eq 0 ] || [ "$conns" -eq 0 ] || [ "$distinct" -eq 0 ] ||
    [ "$threads" -eq 0 ]; then
    echo "SECS, ROUNDS, CONNECTIONS, DISTINCT and TOKIO_WORKER_THREADS must be at least 1" >&2
    exit 2
fi

if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk is missing: apt-get install -y wrk" >&2
    exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/auth-bench-http.XXXXXX")"
server_pid=""
redis_pid=""
cleanup() {
    for pid in "$server_pid" "$redis_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port nothing listens on (probed, not reserved: good enough on loopback).
free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# GET 127.0.0.1:PORT/PATH [with a bearer token]; prints "STATUS BODY".
http_get() {
    local port=$1 path=$2 token=${3:-} response status
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    {
        printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n' "$path"
        if [ -n "$token" ]; then printf 'Authorization: Bearer %s\r\n' "$token"; fi
        printf '\r\n'
    } >&3
    response="$(cat <&3)"
    exec 3<&-
    status="$(head -n1 <<<"$response" | cut -d' ' -f2)"
    echo "$status ${response##*$'\r\n\r\n'}"
}

echo "== build (cargo build --release, -j${BENCH_JOBS:-2})"
cargo build --release --locked -j"${BENCH_JOBS:-2}" --manifest-path "$here/Cargo.toml"
server="${CARGO_TARGET_DIR:-$here/target}/release/auth-bench-http"

redis_url="${REDIS_URL:-}"
redis_note=""
if [ -z "$redis_url" ]; then
    if command -v redis-server >/dev/null 2>&1; then
        redis_port="$(free_port)"
        redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
            >"$work/redis.log" 2>&1 &
        redis_pid=$!
        for _ in $(seq 1 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
            kill -0 "$redis_pid" 2>/dev/null || break
            sleep 0.1
        done
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null; then
            echo "redis-server did not start:" >&2
            tail -n 20 "$work/redis.log" >&2
            exit 1
        fi
        redis_url="redis://127.0.0.1:$redis_port"
        echo "== redis-server on $redis_url (throwaway, no persistence)"
    else
        redis_note="redis-server not found: Redis rows skipped (apt-get install -y redis-server, or set REDIS_URL)"
        echo "== $redis_note"
    fi
fi

echo "== start the server ($threads runtime thread(s)), mint $distinct tokens per key"
server_args=(--tokens-dir "$work/tokens" --distinct "$distinct")
if [ -n "$redis_url" ]; then server_args+=(--redis-url "$redis_url"); fi
TOKIO_WORKER_THREADS="$threads" "$server" "${server_args[@]}" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 1200); do
    [ -f "$work/tokens/ports" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "the server exited:" >&2
        tail -n 20 "$work/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
if [ ! -f "$work/tokens/ports" ]; then
    echo "the server was not ready after 120 s:" >&2
    tail -n 20 "$work/server.log" >&2
    exit 1
fi
ours_port="$(sed -n 's/^OURS_PORT=//p' "$work/tokens/ports")"
ja_port="$(sed -n 's/^JA_PORT=//p' "$work/tokens/ports")"

# The targets: stack|alg|port|path|token files (prefix). A bare route ignores
# the token it is sent, so every row sends the same requests.
targets=()
for mode in reused distinct; do
    targets+=("bare|-|$mode|$ours_port|/bare|hs256")
    targets+=("bare axum0.7|-|$mode|$ja_port|/bare|hs256")
    for alg in hs256 es256; do
        targets+=("ours|$alg|$mode|$ours_port|/ours/$alg|$alg")
        targets+=("ours no-cache|$alg|$mode|$ours_port|/ours-nocache/$alg|$alg")
        targets+=("jwt-authorizer|$alg|$mode|$ja_port|/jwt-authorizer/$alg|$alg")
    done
    if [ -n "$redis_url" ]; then
        targets+=("ours redis|hs256|$mode|$ours_port|/ours-redis/hs256|redis-hs256")
    fi
done

# Every target answers its subject to its token and, when protected, 401
# without one: the rows measure working stacks.
echo "== check every target"
for t in "${targets[@]}"; do
    IFS='|' read -r stack alg mode port path prefix <<<"$t"
    [ "$mode" = reused ] || continue
    token="$(<"$work/tokens/$prefix-reused.txt")"
    got="$(http_get "$port" "$path" "$token")"
    if [ "$got" != "200 alice" ]; then
        echo "$stack $alg ($path): expected '200 alice', got '$got'" >&2
        exit 1
    fi
    first="$(head -n1 "$work/tokens/$prefix-distinct.txt")"
    got="$(http_get "$port" "$path" "$first")"
    if [ "$stack" != bare ] && [ "$stack" != "bare axum0.7" ]; then
        [ "$got" = "200 user-0" ] || { echo "$stack $alg ($path): distinct token: got '$got'" >&2; exit 1; }
        got="$(http_get "$port" "$path")"
        [ "${got%% *}" = 401 ] || { echo "$stack $alg ($path): no token: got '$got'" >&2; exit 1; }
    fi
done

n=${#targets[@]}
echo "== ${rounds} round(s) x ${n} targets x (${warmup} s warm-up + ${secs} s), wrk -t1 -c${conns} --latency"

# wrk against one target: -H with the reused token, or tokens.lua picking
# one of the distinct tokens per request.
run_wrk() {
    local seconds=$1 mode=$2 url=$3 prefix=$4 out=$5
    if [ "$mode" = reused ]; then
        wrk -t1 -c"$conns" -d"${seconds}s" --latency \
            -H "Authorization: Bearer $(<"$work/tokens/$prefix-reused.txt")" "$url" >"$out" 2>&1
    else
        wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$here/tokens.lua" "$url" \
            -- "$work/tokens/$prefix-distinct.txt" >"$out" 2>&1
    fi
}

# The median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Per target: the req/s and p99 of each round (space-separated), the errors summed.
declare -A rps p99 errs
out="$work/wrk.txt"
for round in $(seq 1 "$rounds"); do
    i=0
    for t in "${targets[@]}"; do
        IFS='|' read -r stack alg mode port path prefix <<<"$t"
        i=$((i + 1))
        url="http://127.0.0.1:$port$path"
        printf '[%d:%2d/%d] %-15s %-6s %-9s %s\n' "$round" "$i" "$n" "$stack" "$alg" "$mode" "$url"
        if [ "$warmup" -gt 0 ]; then run_wrk "$warmup" "$mode" "$url" "$prefix" /dev/null || true; fi
        if ! run_wrk "$secs" "$mode" "$url" "$prefix" "$out"; then
            echo "wrk failed:" >&2
            cat "$out" >&2
            exit 1
        fi
        r="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
        if [ -z "$r" ]; then
            echo "no result in wrk's output:" >&2
            cat "$out" >&2
            exit 1
        fi
        key="$stack|$alg|$mode"
        rps[$key]="${rps[$key]:-} $r"
        # p99 in ms, from wrk's "99%  1.23ms" (units us, ms, s, m).
        p99[$key]="${p99[$key]:-} $(awk '$1 == "99%" {
            v = $2 + 0
            if ($2 ~ /us$/) v /= 1000; else if ($2 ~ /ms$/) v += 0; else if ($2 ~ /m$/) v *= 60000; else if ($2 ~ /s$/) v *= 1000
            printf "%.3f", v }' "$out")"
        # Non-2xx answers and socket errors (connect, read, write, timeout).
        errs[$key]=$((${errs[$key]:-0} + $(awk '
            /Non-2xx or 3xx responses:/ { n += $NF }
            /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
            END { print n + 0 }' "$out")))
    done
done
for key in "${!rps[@]}"; do
    # shellcheck disable=SC2086 # one word per round
    rps[$key]="$(median ${rps[$key]})"
    # shellcheck disable=SC2086
    p99[$key]="$(median ${p99[$key]})"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }

echo
echo "HTTP load: wrk -t1 -c${conns} -d${secs}s (after ${warmup} s warm-up), loopback; $cores cores: server $threads runtime thread(s), wrk 1"
if [ "$rounds" -gt 1 ]; then echo "req/s and p99: the median of ${rounds} rounds"; fi
echo "tokens: reused = one token on every request; distinct = one of ${distinct} tokens, picked at random per request"
echo
fmt='%-15s %-6s %-9s %11s %9s %7s %9s %7s\n'
# shellcheck disable=SC2059 # the format is a variable on purpose
printf "$fmt" stack alg tokens "req/s" "p99 ms" "x bare" "x jwt-a" errors
# shellcheck disable=SC2059
printf "$fmt" --------------- ------ --------- ----------- --------- ------- --------- -------
for t in "${targets[@]}"; do
    IFS='|' read -r stack alg mode _ _ _ <<<"$t"
    key="$stack|$alg|$mode"
    case "$stack" in
        bare*) vs_bare="-" vs_ja="-" ;;
        jwt-authorizer) vs_bare="$(ratio "${rps[$key]}" "${rps[bare axum0.7|-|$mode]}")" vs_ja="1.00" ;;
        *) vs_bare="$(ratio "${rps[$key]}" "${rps[bare|-|$mode]}")"
           vs_ja="$(ratio "${rps[$key]}" "${rps[jwt-authorizer|$alg|$mode]:-}")" ;;
    esac
    # shellcheck disable=SC2059
    printf "$fmt" "$stack" "$alg" "$mode" "${rps[$key]}" "${p99[$key]}" "$vs_bare" "$vs_ja" "${errs[$key]}"
done
echo
echo "x bare: req/s over the bare route of the same axum (0.8 for ours, 0.7 for jwt-authorizer), same token mode."
echo "x jwt-a: req/s over jwt-authorizer with the same algorithm and token mode (above 1: faster)."
if [ -n "$redis_note" ]; then echo "$redis_note"; fi
total_errors=0
for k in "${!errs[@]}"; do total_errors=$((total_errors + ${errs[$k]})); done
if [ "$total_errors" -gt 0 ]; then
    echo "some requests failed (errors column): those rows do not measure successful requests" >&2
    exit 1
fi
