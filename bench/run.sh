#!/usr/bin/env bash
# Benchmark marmoset against nginx and lighttpd on the same files with wrk.
#
# Usage: bench/run.sh            (from anywhere; see bench/README.md)
#
# Environment:
#   BENCH_SECONDS=10      duration of each measured run
#   BENCH_WARMUP=2        duration of the warm-up run before each measured run
#   BENCH_SERVERS="nginx lighttpd marmoset"   servers to measure (others show n/a)
#   BENCH_CASES="1k-ka-50 1k-ka-500 1k-close-50 1m-ka-50 404-ka-50 1k-pipe16-50"
#   BENCH_BUILD=1         0: do not run `cargo build --release`
#   BENCH_MARMOSET=PATH   marmoset binary (default: target/release/marmoset)
#   BENCH_KEEP=0          1: keep the temp dir (configs, logs, raw wrk output)
#   BENCH_QUIET_PCT=15    before each run, wait until the rest of the machine uses
#   BENCH_QUIET_WAIT=30   less than this % of a CPU (this many seconds at most);
#   BENCH_RETRIES=2       run again (this many times at most) when it used more
#                         during the run; the quietest try is reported
#
# Every server runs in the foreground from this script, alone, pinned to CPU 0,
# on a loopback port; wrk runs pinned to CPU 1 with one thread. Every server
# started here is stopped on exit, whatever happens.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
HELPER=(python3 "$HERE/helper.py")

DURATION=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
SERVERS=${BENCH_SERVERS:-"nginx lighttpd marmoset"}
ALL_CASES="1k-ka-50 1k-ka-500 1k-close-50 1m-ka-50 404-ka-50 1k-pipe16-50"
CASES=${BENCH_CASES:-$ALL_CASES}
BUILD=${BENCH_BUILD:-1}
MARMOSET_BIN=${BENCH_MARMOSET:-$ROOT/target/release/marmoset}
KEEP=${BENCH_KEEP:-0}
RETRIES=${BENCH_RETRIES:-2}
QUIET_PCT=${BENCH_QUIET_PCT:-15}
QUIET_WAIT=${BENCH_QUIET_WAIT:-30}

WORK=""
STARTED_PIDS=()
WRK_PID=""
POLICY_MADE="" # a policy-rc.d this script wrote, to remove on exit

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ------------------------------------------------------------------ cleanup

# Stop one server we started: SIGTERM to it, then SIGKILL to whatever is left
# of it and its children (nginx's worker) after 3 s.
stop_pid() {
    local pid=$1 procs p i
    if [[ -d /proc/$pid ]]; then
        mapfile -t procs < <("${HELPER[@]}" tree "$pid" 2>/dev/null || echo "$pid")
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 30; i++)); do
            [[ -d /proc/$pid ]] || break
            sleep 0.1
        done
        for p in "${procs[@]}"; do
            [[ -d /proc/$p ]] && kill -KILL "$p" 2>/dev/null || true
        done
    fi
    wait "$pid" 2>/dev/null || true
    local kept=()
    for p in "${STARTED_PIDS[@]}"; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    STARTED_PIDS=("${kept[@]}")
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    [[ -z $WRK_PID ]] || kill -TERM "$WRK_PID" 2>/dev/null || true
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid"
    done
    [[ -z $POLICY_MADE ]] || rm -f "$POLICY_MADE"
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ $KEEP == 1 ]]; then
            log "kept $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}

# ------------------------------------------------------------------ setup

# Install nginx, lighttpd and wrk from Debian when missing, without letting
# the packages start them as system services (policy-rc.d says no).
install_tools() {
    local missing=() policy=/usr/sbin/policy-rc.d
    command -v wrk >/dev/null || missing+=(wrk)
    command -v lighttpd >/dev/null || [[ -x /usr/sbin/lighttpd ]] || missing+=(lighttpd)
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v taskset >/dev/null || missing+=(util-linux)
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || die "missing ${missing[*]}; install them (apt-get install ${missing[*]})"
    log "installing ${missing[*]} (services are not started)"
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        POLICY_MADE=$policy
    fi
    local pkgs=("${missing[@]/#nginx/nginx-light}") ok=0
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y --no-install-recommends "${pkgs[@]}" >"$WORK/apt.log" 2>&1; then
        ok=1
    elif apt-get update >>"$WORK/apt.log" 2>&1 &&
        { apt-get install -y --no-install-recommends "${pkgs[@]}" >>"$WORK/apt.log" 2>&1 ||
            apt-get install -y --no-install-recommends "${missing[@]}" >>"$WORK/apt.log" 2>&1; }; then
        ok=1
    fi
    if [[ -n $POLICY_MADE ]]; then
        rm -f "$POLICY_MADE"
        POLICY_MADE=""
    fi
    ((ok)) || { tail -20 "$WORK/apt.log" >&2; die "apt-get install failed"; }
}

build_marmoset() {
    [[ " $SERVERS " == *" marmoset "* ]] || return 0
    if [[ $BUILD == 1 ]]; then
        log "cargo build --release"
        if ! (cd "$ROOT" && cargo build --release) >"$WORK/build.log" 2>&1; then
            tail -30 "$WORK/build.log" >&2
            log "marmoset does not build: its column will read n/a"
            "${HELPER[@]}" note "$RESULTS" marmoset status "cargo build --release failed"
            SERVERS=${SERVERS//marmoset/}
            return 0
        fi
    fi
    if [[ ! -x $MARMOSET_BIN ]]; then
        log "no $MARMOSET_BIN: marmoset column will read n/a"
        "${HELPER[@]}" note "$RESULTS" marmoset status "no binary at $MARMOSET_BIN"
        SERVERS=${SERVERS//marmoset/}
    fi
}

make_docroot() {
    mkdir -p "$DOCROOT"
    # 1 KiB of HTML, exactly 1024 bytes.
    python3 - "$DOCROOT/1k.html" <<'EOF'
import sys
head = b"<!DOCTYPE html>\n<html><head><title>bench</title></head><body>\n<p>"
tail = b"</p>\n</body></html>\n"
body = (b"marmoset " * 200)[: 1024 - len(head) - len(tail)]
open(sys.argv[1], "wb").write(head + body + tail)
EOF
    head -c 1048576 /dev/urandom >"$DOCROOT/1m.bin"
    chmod 755 "$WORK" "$DOCROOT"
    chmod 644 "$DOCROOT"/*
}

# Fill a template from bench/conf with this run's paths and port.
write_conf() { # name port -> path
    local name=$1 port=$2 out="$WORK/$1.conf"
    sed -e "s|@WORK@|$WORK|g" -e "s|@DOCROOT@|$DOCROOT|g" -e "s|@PORT@|$port|g" \
        -e "s|@NOFILE@|$(ulimit -n)|g" \
        "$HERE/conf/$name.conf.in" >"$out"
    echo "$out"
}

version_of() {
    case $1 in
        nginx) nginx -v 2>&1 | sed 's|.*nginx/|nginx/|' ;;
        lighttpd) lighttpd -v 2>&1 | awk 'NR==1 {print $1}' ;;
        marmoset) "$MARMOSET_BIN" -V 2>&1 | head -1 ;;
    esac
}

# ------------------------------------------------------------------ servers

# Start a server on CPU 0; sets SERVER_PID. Returns 1 when it does not listen.
start_server() { # name port
    local name=$1 port=$2 conf
    conf=$(write_conf "$name" "$port")
    case $name in
        nginx)
            mkdir -p "$WORK/nginx-tmp"
            taskset -c 0 nginx -p "$WORK/" -e "$WORK/nginx-error.log" -c "$conf" \
                >"$WORK/nginx.out" 2>&1 &
            ;;
        lighttpd)
            taskset -c 0 lighttpd -D -f "$conf" >"$WORK/lighttpd.out" 2>&1 &
            ;;
        marmoset)
            MARMOSET_LOG=warn taskset -c 0 "$MARMOSET_BIN" -f "$conf" -p "$WORK/marmoset.pid" \
                >"$WORK/marmoset.out" 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    if ! "${HELPER[@]}" wait "$port" "$SERVER_PID" 10; then
        log "$name did not start listening on 127.0.0.1:$port:"
        tail -20 "$WORK/$name.out" "$WORK/$name-error.log" 2>/dev/null >&2 || true
        stop_pid "$SERVER_PID"
        return 1
    fi
}

# wrk arguments and URL path for a case id.
case_args() { # case -> sets WRK_ARGS, WRK_PATH, WRK_TAIL
    WRK_TAIL=()
    case $1 in
        1k-ka-50) WRK_ARGS=(-c50) WRK_PATH=/1k.html ;;
        1k-ka-500) WRK_ARGS=(-c500) WRK_PATH=/1k.html ;;
        1k-close-50) WRK_ARGS=(-c50 -H "Connection: close") WRK_PATH=/1k.html ;;
        1m-ka-50) WRK_ARGS=(-c50) WRK_PATH=/1m.bin ;;
        404-ka-50) WRK_ARGS=(-c50) WRK_PATH=/missing.html ;;
        1k-pipe16-50) WRK_ARGS=(-c50 -s "$HERE/pipeline.lua") WRK_PATH=/1k.html WRK_TAIL=(-- 16) ;;
        *) die "unknown case $1 (known: $ALL_CASES)" ;;
    esac
}

# wrk in the background + `wait`, so that a signal to this script is handled
# at once (bash runs traps only between foreground commands).
run_wrk() { # seconds port out
    taskset -c 1 wrk -t1 -d"$1s" --timeout 5s --latency "${WRK_ARGS[@]}" \
        "http://127.0.0.1:$2$WRK_PATH" "${WRK_TAIL[@]}" >"$3" 2>&1 &
    WRK_PID=$!
    local rc=0
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    return "$rc"
}

# Wait (QUIET_WAIT s at most) until the rest of the machine is below QUIET_PCT.
wait_quiet() {
    local i busy
    for ((i = 0; i < QUIET_WAIT; i++)); do
        busy=$("${HELPER[@]}" busy 1)
        ((busy >= QUIET_PCT)) || break
    done
    ((i < 2)) || log "waited ${i}s for the machine to be quiet"
}

# One measured run of a case: warm-up, then wrk with CPU readings around it.
# Sets OTHER to the % of a CPU that other processes used meanwhile (999: no result).
measure_case() { # name port case try
    local name=$1 port=$2 case=$3 try=$4 t0 t1 s0 s1 rss hwm out
    OTHER=999
    case_args "$case"
    out="$WORK/wrk-$name-$case.$try.txt"
    if ((WARMUP > 0)); then
        run_wrk "$WARMUP" "$port" "$out" || true
    fi
    t0=$("${HELPER[@]}" cpu "$SERVER_PID")
    s0=$("${HELPER[@]}" systicks)
    times >"$WORK/times0" # this shell's reaped children: wrk's own CPU time
    if ! run_wrk "$DURATION" "$port" "$out"; then
        log "$name / $case: wrk failed: $(tail -3 "$out")"
    fi
    times >"$WORK/times1"
    s1=$("${HELPER[@]}" systicks)
    t1=$("${HELPER[@]}" cpu "$SERVER_PID")
    read -r rss hwm < <("${HELPER[@]}" rss "$SERVER_PID")
    [[ -d /proc/$SERVER_PID ]] || return 0
    printf '[bench] %-8s %-13s ' "$name" "$case" >&2
    OTHER=$("${HELPER[@]}" record "$RESULTS" "$name" "$case" "$out" "$t0" "$t1" "$hwm" \
        "$WORK/times0" "$WORK/times1" "$s0" "$s1") ||
        { log "$name / $case: could not read wrk output"; OTHER=999; }
}

bench_server() { # name port
    local name=$1 port=$2 case rss hwm try other
    log "== $name on 127.0.0.1:$port"
    if ! start_server "$name" "$port"; then
        "${HELPER[@]}" note "$RESULTS" "$name" status "did not start (its output is above; BENCH_KEEP=1 keeps its log)"
        return 0
    fi
    "${HELPER[@]}" note "$RESULTS" "$name" version "$(version_of "$name")"
    sleep 0.5
    read -r rss hwm < <("${HELPER[@]}" rss "$SERVER_PID")
    "${HELPER[@]}" note "$RESULTS" "$name" idle_rss_kib "$rss"
    log "$name: pid $SERVER_PID, idle RSS $rss KiB"
    local bad
    if ! bad=$("${HELPER[@]}" check "$port" 2>&1); then
        log "$name: sanity check failed: $bad"
        "${HELPER[@]}" note "$RESULTS" "$name" check "$bad"
    fi
    for case in $CASES; do
        for ((try = 1; try <= 1 + RETRIES; try++)); do
            # The machine is shared: wait (a while) for other work to calm down.
            wait_quiet
            measure_case "$name" "$port" "$case" "$try"
            other=$OTHER
            if ! [[ -d /proc/$SERVER_PID ]]; then
                log "$name died during $case"
                "${HELPER[@]}" note "$RESULTS" "$name" status "died during $case"
                return 0
            fi
            ((other > QUIET_PCT && other < 999)) || break
            ((try > RETRIES)) || log "other processes used ${other}% of a CPU: running $case again"
        done
    done
    stop_pid "$SERVER_PID"
}

# ------------------------------------------------------------------ main

main() {
    case ${1:-} in
        -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        "") ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    [[ $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || die "BENCH_SECONDS must be a positive integer"
    [[ $WARMUP =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be an integer"
    local c
    for c in $CASES; do
        [[ " $ALL_CASES " == *" $c "* ]] || die "unknown case $c (known: $ALL_CASES)"
    done
    (($(nproc) >= 2)) || log "warning: fewer than 2 CPUs, server and wrk share CPU 0"

    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    WORK=$(mktemp -d /tmp/marmoset-bench.XXXXXX)
    DOCROOT="$WORK/htdocs"
    RESULTS="$WORK/results.jsonl"
    : >"$RESULTS"

    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    log "open files limit: $(ulimit -n)"

    install_tools
    build_marmoset
    make_docroot

    local busy_before
    busy_before=$("${HELPER[@]}" busy 2)
    log "machine busy before start: $busy_before% of one CPU"
    if ((busy_before > 10)); then
        log "warning: other work is running: figures will be noisy"
    fi

    local base=18080 port used=() name
    for name in nginx lighttpd marmoset; do
        if [[ " $SERVERS " != *" $name "* ]]; then
            continue
        fi
        port=$("${HELPER[@]}" freeport "$base" "${used[@]}")
        used+=("$port")
        base=$((port + 1))
        bench_server "$name" "$port"
    done

    local cmd="" var
    for var in $(compgen -e | grep '^BENCH_' | sort || true); do
        if [[ ${!var} == *" "* ]]; then
            cmd+="$var=\"${!var}\" "
        else
            cmd+="$var=${!var} "
        fi
    done
    cmd+="bench/run.sh"
    python3 - "$WORK/meta.json" "$cmd" "$DURATION" "$WARMUP" "$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')" \
        "$busy_before" <<'EOF'
import json, os, platform, subprocess, sys, time
cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
out, cmd, seconds, warmup, wrk, busy_before = sys.argv[1:]
json.dump({
    "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
    "cpu": cpu, "kernel": platform.release(), "command": cmd,
    "seconds": seconds, "warmup": warmup, "wrk": wrk,
    "busy_before": busy_before,
}, open(out, "w"))
EOF
    "${HELPER[@]}" report "$RESULTS" "$WORK/meta.json"
}

main "$@"
