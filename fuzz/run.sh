#!/usr/bin/env bash
# Builds the AFL++ targets and fuzzes each for SECONDS, one after the other on
# one core. Prints executions, coverage and findings per target; exits
# non-zero if any target crashed (or a stored input fails its target).
#
#   fuzz/run.sh 20              # every target, 20 s each (what CI runs)
#   fuzz/run.sh 600 resign      # one target, 10 min
#
# Needs cargo-afl (which builds AFL++ itself when it is installed):
#   cargo install cargo-afl --version 0.18.2 --locked
# Set FUZZ_INSTALL=1 to have this script install it when it is missing.
# Outputs go to fuzz/out/<target>/ (queue, crashes, hangs) and fuzz/out/<target>.log.
set -euo pipefail

AFL_VERSION=0.18.2
ALL_TARGETS=(token resign bearer cookie)

seconds="${1:-}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 SECONDS [TARGET...]   (targets: ${ALL_TARGETS[*]})" >&2
    exit 2
fi
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

cd "$(dirname "$0")"

if ! cargo afl --version >/dev/null 2>&1; then
    if [ "${FUZZ_INSTALL:-0}" = 1 ]; then
        cargo install cargo-afl --version "$AFL_VERSION" --locked
    else
        echo "cargo-afl is missing: cargo install cargo-afl --version $AFL_VERSION --locked" >&2
        echo "(or run with FUZZ_INSTALL=1)" >&2
        exit 2
    fi
fi

dict_for() {
    case "$1" in
        token) echo "-x dict/token.dict" ;;
        resign) echo "-x dict/json.dict" ;;
        bearer | cookie) echo "-x dict/headers.dict -x dict/token.dict" ;;
    esac
}

echo "== build (cargo afl build --release)"
cargo afl build --release --locked --bins -j"${FUZZ_JOBS:-2}"

echo "== replay stored inputs (corpus/, crashes-found/)"
for t in "${targets[@]}"; do
    shopt -s nullglob
    files=(corpus/"$t"/* crashes-found/"$t"/*)
    shopt -u nullglob
    if [ ${#files[@]} -gt 0 ]; then
        target/release/replay "$t" "${files[@]}" >/dev/null
    fi
done

# A shared machine: no core pinning; no CPU governor check; a core pattern
# that pipes to a crash handler must not stop the run.
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_FAST_CAL=1

mkdir -p out
failed=0
printf '\n%-8s %10s %9s %8s %9s %8s %6s %6s\n' target execs execs/s edges map-cvg corpus crash hang > out/summary.txt
for t in "${targets[@]}"; do
    echo "== fuzz $t for ${seconds}s"
    rm -rf "out/$t"
    # shellcheck disable=SC2046 # the dictionary options split on purpose
    if ! cargo afl fuzz -V "$seconds" -t 1000 -i "corpus/$t" -o "out/$t" $(dict_for "$t") \
        "target/release/$t" >"out/$t.log" 2>&1; then
        echo "afl-fuzz failed on $t; the end of out/$t.log:" >&2
        tail -n 20 "out/$t.log" >&2
        failed=1
        continue
    fi
    stats="out/$t/default/fuzzer_stats"
    stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
    printf '%-8s %10s %9s %8s %9s %8s %6s %6s\n' "$t" "$(stat execs_done)" \
        "$(stat execs_per_sec)" "$(stat edges_found)" "$(stat bitmap_cvg)" \
        "$(stat corpus_count)" "$(stat saved_crashes)" "$(stat saved_hangs)" >> out/summary.txt
    shopt -s nullglob
    crashes=("out/$t/default/crashes"/id:*)
    hangs=("out/$t/default/hangs"/id:*)
    shopt -u nullglob
    for c in "${crashes[@]}"; do
        failed=1
        echo "CRASH in $t: $c (base64: $(base64 -w0 "$c"))"
        target/release/replay "$t" "$c" 2>&1 | tail -n 20 || true
    done
    for h in "${hangs[@]}"; do
        echo "hang (over 1 s) in $t: $h (base64: $(base64 -w0 "$h"))"
    done
done
cat out/summary.txt
if [ "$failed" -ne 0 ]; then
    echo "fuzzing found crashes (see above); keep each input under fuzz/crashes-found/<target>/" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crashes"
