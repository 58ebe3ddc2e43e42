#!/bin/sh
# Run every cargo-fuzz target of fuzz/ for SECONDS each (default 30).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Installs cargo-fuzz when missing. libFuzzer needs nightly compiler flags:
# on a stable toolchain RUSTC_BOOTSTRAP=1 allows them. Targets are built
# once with debug assertions (overflow checks) and AddressSanitizer
# (FUZZ_SANITIZER=none to build without). The corpus grows in
# fuzz/corpus/<target>/ (seeded from fuzz/seeds/<target>/); a crashing
# input is kept in fuzz/artifacts/<target>/ and the script exits 1 after
# running the remaining targets. Reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -a TARGET fuzz/artifacts/TARGET/crash-…
#
# FUZZ_SEED and FUZZ_RUNS make a run reproducible (a fixed seed and a fixed
# number of inputs per target, SECONDS then only caps the time): the test
# command uses them so that CI gives the same answer every time; explore
# with plain time-bounded runs by hand. Inputs in fuzz/seeds/ (including
# past crashes, kept as regressions) are replayed on every run.
set -e
cd "$(dirname "$0")/.."

seconds="${1:-30}"
[ $# -gt 0 ] && shift
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

cd fuzz
san="${FUZZ_SANITIZER:-address}"
if ! cargo fuzz build -a -s "$san"; then
    [ "$san" = none ] && exit 1
    echo "fuzz: build with sanitizer $san failed; retrying without" >&2
    san=none
    cargo fuzz build -a -s none
fi

targets="$*"
[ -n "$targets" ] || targets="$(cargo fuzz list)"
failed=""
for t in $targets; do
    mkdir -p "corpus/$t"
    seeds=""
    [ -d "seeds/$t" ] && seeds="seeds/$t"
    echo "fuzz: $t for ${seconds}s"
    # -timeout: an input taking 10 s is a hang; the output of a run is long,
    # so only its last lines are shown unless it fails.
    repro=""
    [ -n "${FUZZ_SEED:-}" ] && repro="-seed=$FUZZ_SEED -runs=${FUZZ_RUNS:-50000}"
    if cargo fuzz run -a -s "$san" "$t" "corpus/$t" $seeds -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 $repro \
        >"corpus/$t.log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units)' "corpus/$t.log" | tail -1
    else
        tail -60 "corpus/$t.log"
        echo "fuzz: $t FAILED; input kept in fuzz/artifacts/$t/" >&2
        failed="$failed $t"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: failing targets:$failed" >&2
    exit 1
fi
echo "fuzz: every target ran ${seconds}s without a failure"
