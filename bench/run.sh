#!/usr/bin/env bash
# Benchmark marmoset against nginx and lighttpd on the same files with wrk.
#
# Usage: bench/run.sh            (from anywhere; see bench/README.md)
#
# Environment:
#   BENCH_SECONDS=10      duration of each measured run
#   BENCH_WARMUP=2        duration of the warm-up run before each measured run
#   BENCH_SERVERS="nginx lighttpd marmoset"   servers to measure (others show n/a)
#   BENCH_CASES="1k-ka-50 1k-basic-50 1k-userfilter-50 1k-ka-500 1k-close-50
#                1m-ka-50 404-ka-50 1k-pipe16-50 1k-ka-50-w2 h2-1k startup"
#   BENCH_BUILD=1         0: do not run `cargo build --release`
#   BENCH_MARMOSET=PATH   marmoset binary (default: target/release/marmoset)
#   BENCH_KEEP=0          1: keep the temp dir (configs, logs, raw wrk output)
#   BENCH_QUIET_PCT=15    before each run, wait until the rest of the machine uses
#   BENCH_QUIET_WAIT=30   less than this % of a CPU (this many seconds at most);
#   BENCH_RETRIES=2       run again (this many times at most) when it used more
#                         during the run; the quietest try is reported
#   BENCH_STARTS=10       starts timed in the startup case (the median is reported)
#   BENCH_ROUNDS=1        rounds of every load case (all cases of a group, then
#                         again): each figure reported is the median over rounds
#
# Every server runs in the foreground from this script, pinned to CPU 0, on a
# loopback port of its own; wrk (or h2load) runs pinned to CPU 1 with one
# thread and loads one server at a time. The servers of a config variant are
# started together and each case runs on nginx, lighttpd, then marmoset before
# the next case: a drift of the machine's speed falls on all three alike.
# Exception: 1k-ka-50-w2 runs two workers per server and pins nothing.
# 1k-basic-50 and 1k-userfilter-50 (Basic authentication, then also the
# userfilter: bench/conf/marmoset-*.conf.in) run on marmoset only, to compare
# with its own 1k-ka-50: two more marmoset instances, started with the plain
# ones, loaded right after marmoset's 1k-ka-50. Every server started here is
# stopped on exit, whatever happens.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
HELPER=(python3 "$HERE/helper.py")

DURATION=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
SERVERS=${BENCH_SERVERS:-"nginx lighttpd marmoset"}
ALL_CASES="1k-ka-50 1k-basic-50 1k-userfilter-50 1k-ka-500 1k-close-50 1m-ka-50 404-ka-50"
ALL_CASES+=" 1k-pipe16-50 1k-ka-50-w2 h2-1k startup"
CASES=${BENCH_CASES:-$ALL_CASES}
BUILD=${BENCH_BUILD:-1}
MARMOSET_BIN=${BENCH_MARMOSET:-$ROOT/target/release/marmoset}
KEEP=${BENCH_KEEP:-0}
RETRIES=${BENCH_RETRIES:-2}
QUIET_PCT=${BENCH_QUIET_PCT:-15}
QUIET_WAIT=${BENCH_QUIET_WAIT:-30}
STARTS=${BENCH_STARTS:-10}
ROUNDS=${BENCH_ROUNDS:-1}

WORK=""
ACTIVE=""              # the servers measured, in order
declare -A PORT_OF=()  # each one's port
declare -A AUX_PORT=() # marmoset's basic and userfilter instances' ports
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
            [[ ! -d /proc/$p ]] || kill -KILL "$p" 2>/dev/null || true
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

# apt-get install PACKAGES, without letting them start services (policy-rc.d
# says no); `nginx` means nginx-light. Returns 1 when it fails.
apt_install() {
    local policy=/usr/sbin/policy-rc.d ok=0
    log "installing $* (services are not started)"
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        POLICY_MADE=$policy
    fi
    local pkgs=("${@/#nginx/nginx-light}")
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y --no-install-recommends "${pkgs[@]}" >>"$WORK/apt.log" 2>&1; then
        ok=1
    elif apt-get update >>"$WORK/apt.log" 2>&1 &&
        { apt-get install -y --no-install-recommends "${pkgs[@]}" >>"$WORK/apt.log" 2>&1 ||
            apt-get install -y --no-install-recommends "$@" >>"$WORK/apt.log" 2>&1; }; then
        ok=1
    fi
    if [[ -n $POLICY_MADE ]]; then
        rm -f "$POLICY_MADE"
        POLICY_MADE=""
    fi
    ((ok))
}

# Install nginx, lighttpd and wrk from Debian when missing; for h2-1k also
# h2load and lighttpd's TLS module, whose absence only makes that case n/a.
install_tools() {
    local missing=() optional=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v lighttpd >/dev/null || [[ -x /usr/sbin/lighttpd ]] || missing+=(lighttpd)
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v taskset >/dev/null || missing+=(util-linux)
    if [[ " $CASES " == *" h2-1k "* ]]; then
        command -v h2load >/dev/null || optional+=(nghttp2-client)
        command -v openssl >/dev/null || optional+=(openssl)
        [[ -e /usr/lib/lighttpd/mod_openssl.so ]] || optional+=(lighttpd-mod-openssl)
    fi
    if ((${#missing[@]} + ${#optional[@]})) && [[ $(id -u) != 0 ]]; then
        die "missing ${missing[*]} ${optional[*]}; install them (apt-get install ...)"
    fi
    if ((${#missing[@]})) && ! apt_install "${missing[@]}"; then
        tail -20 "$WORK/apt.log" >&2
        die "apt-get install failed"
    fi
    if ((${#optional[@]})) && ! apt_install "${optional[@]}"; then
        tail -5 "$WORK/apt.log" >&2
        log "could not install ${optional[*]}: h2-1k may read n/a"
    fi
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
    mkdir -p "$DOCROOT" "$WORK/nginx-tmp"
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

# A self-signed P-256 certificate for h2-1k, in the temp dir.
make_cert() {
    [[ -e $WORK/cert.pem ]] && return 0
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1
}

# What a config variant changes in a template (sets WORKERS LISTEN GLOBAL TLS):
# plain = one worker, HTTP/1.1; w2 = two workers; tls = HTTPS with HTTP/2.
variant_conf() { # name variant
    local cert=$WORK/cert.pem key=$WORK/key.pem
    WORKERS=1 LISTEN="" GLOBAL="" TLS=""
    case $1:$2 in
        nginx:w2) WORKERS=2 ;;
        lighttpd:w2) GLOBAL="server.max-worker = 2" ;;
        marmoset:w2) GLOBAL='mode = "threads"; workers = 2;' ;;
        nginx:tls)
            # nginx 1.22 leaves TLS 1.3 off by default; the others offer it.
            LISTEN=" ssl http2"
            TLS="ssl_certificate $cert; ssl_certificate_key $key; ssl_protocols TLSv1.2 TLSv1.3;"
            ;;
        lighttpd:tls)
            TLS=$(printf '%s\n' 'server.modules += ( "mod_openssl" )' 'ssl.engine = "enable"' \
                "ssl.pemfile = \"$cert\"" "ssl.privkey = \"$key\"" \
                'server.feature-flags += ( "server.h2proto" => "enable" )')
            ;;
        marmoset:tls) TLS="tls = { crtfile = \"$cert\"; keyfile = \"$key\"; };" ;;
    esac
}

# Fill a template from bench/conf with this run's paths, port and variant.
write_conf() { # name port variant -> path
    local out="$WORK/$1-$3.conf" text
    variant_conf "$1" "$3"
    local template=$HERE/conf/$1.conf.in
    [[ $3 != basic && $3 != userfilter ]] || template=$HERE/conf/$1-$3.conf.in
    text=$(<"$template")
    text=${text//@WORK@/$WORK}
    text=${text//@DOCROOT@/$DOCROOT}
    text=${text//@PORT@/$2}
    text=${text//@NOFILE@/$(ulimit -n)}
    text=${text//@WORKERS@/$WORKERS}
    text=${text//@LISTEN@/$LISTEN}
    text=${text//\#@GLOBAL@/$GLOBAL}
    text=${text//\#@TLS@/$TLS}
    printf '%s\n' "$text" >"$out"
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

# The command that runs a server in the foreground on a config (sets CMD).
server_cmd() { # name conf
    case $1 in
        nginx) CMD=(nginx -p "$WORK/" -e "$WORK/nginx-error.log" -c "$2") ;;
        lighttpd) CMD=(lighttpd -D -f "$2") ;;
        marmoset) CMD=("$MARMOSET_BIN" -f "$2" -p "${2%.conf}.pid") ;; # one per variant
    esac
}

# Start a server, on CPU 0 unless the variant is w2; sets SERVER_PID.
# Returns 1 when it does not listen. setsid: lighttpd's master passes SIGTERM on
# to its whole process group (kill(0, ...)), which must not include this script.
start_server() { # name port variant
    local name=$1 port=$2 pin=(setsid taskset -c 0)
    [[ $3 != w2 ]] || pin=(setsid)
    [[ $3 != tls ]] || make_cert || { log "openssl could not make a certificate"; return 1; }
    server_cmd "$name" "$(write_conf "$name" "$port" "$3")"
    "${pin[@]}" "${CMD[@]}" >"$WORK/$name-$3.out" 2>&1 &
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    if ! "${HELPER[@]}" wait "$port" "$SERVER_PID" 10; then
        log "$name ($3) did not start listening on 127.0.0.1:$port:"
        tail -20 "$WORK/$name-$3.out" "$WORK/$name-error.log" 2>/dev/null >&2 || true
        stop_pid "$SERVER_PID"
        return 1
    fi
}

# Load tool, its arguments and the URL path for a case id: sets TOOL, WRK_ARGS,
# WRK_PATH, WRK_TAIL and PIN (the client's CPU).
case_args() { # case
    TOOL=wrk WRK_TAIL=() PIN=(taskset -c 1)
    case $1 in
        1k-ka-50) WRK_ARGS=(-c50) WRK_PATH=/1k.html ;;
        1k-ka-500) WRK_ARGS=(-c500) WRK_PATH=/1k.html ;;
        1k-close-50) WRK_ARGS=(-c50 -H "Connection: close") WRK_PATH=/1k.html ;;
        1m-ka-50) WRK_ARGS=(-c50) WRK_PATH=/1m.bin ;;
        404-ka-50) WRK_ARGS=(-c50) WRK_PATH=/missing.html ;;
        1k-pipe16-50) WRK_ARGS=(-c50 -s "$HERE/pipeline.lua") WRK_PATH=/1k.html WRK_TAIL=(-- 16) ;;
        1k-ka-50-w2) WRK_ARGS=(-c50) WRK_PATH=/1k.html PIN=() ;;
        h2-1k) TOOL=h2load WRK_ARGS=(-c50 -m10) WRK_PATH=/1k.html ;;
        1k-basic-50 | 1k-userfilter-50)
            WRK_ARGS=(-c50 -H "Authorization: Basic cm9vdDpzZWNyZXQ=") WRK_PATH=/1k.html ;;
        *) die "unknown case $1 (known: $ALL_CASES)" ;;
    esac
}

# The load tool in the background + `wait`, so that a signal to this script is
# handled at once (bash runs traps only between foreground commands).
run_load() { # seconds port out
    if [[ $TOOL == h2load ]]; then
        "${PIN[@]}" h2load -t1 -D"$1" "${WRK_ARGS[@]}" "https://127.0.0.1:$2$WRK_PATH" >"$3" 2>&1 &
    else
        "${PIN[@]}" wrk -t1 -d"$1s" --timeout 5s --latency "${WRK_ARGS[@]}" \
            "http://127.0.0.1:$2$WRK_PATH" "${WRK_TAIL[@]}" >"$3" 2>&1 &
    fi
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

# One measured run of a case: warm-up, then the load with CPU readings around it.
# Sets OTHER to the % of a CPU that other processes used meanwhile (999: no result).
measure_case() { # name port case try
    local name=$1 port=$2 case=$3 try=$4 t0 t1 s0 s1 rss hwm out
    OTHER=999
    case_args "$case"
    out="$WORK/$TOOL-$name-$case.$try.txt"
    if ((WARMUP > 0)); then
        run_load "$WARMUP" "$port" "$out" || true
    fi
    t0=$("${HELPER[@]}" cpu "$SERVER_PID")
    s0=$("${HELPER[@]}" systicks)
    times >"$WORK/times0" # this shell's reaped children: the client's own CPU time
    if ! run_load "$DURATION" "$port" "$out"; then
        log "$name / $case: $TOOL failed: $(tail -3 "$out")"
    fi
    times >"$WORK/times1"
    s1=$("${HELPER[@]}" systicks)
    t1=$("${HELPER[@]}" cpu "$SERVER_PID")
    read -r rss hwm < <("${HELPER[@]}" rss "$SERVER_PID")
    [[ -d /proc/$SERVER_PID ]] || return 0
    printf '[bench] %-8s %-13s ' "$name" "$case" >&2
    OTHER=$("${HELPER[@]}" record "$RESULTS" "$name" "$case" "$out" "$t0" "$t1" "$hwm" \
        "$WORK/times0" "$WORK/times1" "$s0" "$s1") ||
        { log "$name / $case: could not read $TOOL output"; OTHER=999; }
}

# A case with its retries on a busy machine. Returns 1 when the server died.
run_case() { # name port case
    local try
    for ((try = 1; try <= 1 + RETRIES; try++)); do
        # The machine is shared: wait (a while) for other work to calm down.
        wait_quiet
        measure_case "$1" "$2" "$3" "$try"
        if ! [[ -d /proc/$SERVER_PID ]]; then
            log "$1 died during $3"
            "${HELPER[@]}" note "$RESULTS" "$1" "status-$3" "died during $3"
            return 1
        fi
        ((OTHER > QUIET_PCT && OTHER < 999)) || break
        ((try > RETRIES)) || log "other processes used ${OTHER}% of a CPU: running $3 again"
    done
}

# Facts taken once per server on the plain variant: version, idle RSS, sanity check.
note_plain() { # name port
    local rss hwm bad
    "${HELPER[@]}" note "$RESULTS" "$1" version "$(version_of "$1")"
    sleep 0.5
    read -r rss hwm < <("${HELPER[@]}" rss "$SERVER_PID")
    "${HELPER[@]}" note "$RESULTS" "$1" idle_rss_kib "$rss"
    log "$1: pid $SERVER_PID, idle RSS $rss KiB"
    if ! bad=$("${HELPER[@]}" check "$2" 2>&1); then
        log "$1: sanity check failed: $bad"
        "${HELPER[@]}" note "$RESULTS" "$1" check "$bad"
    fi
}

# Whether server $1 takes part in variant $2 (notes why not when it cannot).
takes_part() { # name variant
    if [[ $2 == tls ]] && ! command -v h2load >/dev/null; then
        "${HELPER[@]}" note "$RESULTS" "$1" status-h2 "h2-1k: no h2load (Debian nghttp2-client)"
        return 1
    fi
    # Basic and userfilter: marmoset's own overhead; the peers are not configured for it.
    [[ $2 != basic && $2 != userfilter ]] || [[ $1 == marmoset ]]
}

# The config variant a case needs (see variant_conf; none: start-up).
variant_of() { # case
    case $1 in
        1k-ka-50-w2) echo w2 ;;
        h2-1k) echo tls ;;
        1k-basic-50) echo basic ;;
        1k-userfilter-50) echo userfilter ;;
        startup) echo none ;;
        *) echo plain ;;
    esac
}

# The group of servers started together for a case: basic and userfilter
# instances run next to the plain ones, so that their overhead is measured
# against a 1k-ka-50 taken a few seconds before, not minutes.
group_of() { # case
    case $(variant_of "$1") in
        basic | userfilter) echo plain ;;
        *) variant_of "$1" ;;
    esac
}

# The cases of one group (see group_of): every server started with the
# variant each case needs, then each case run on every server of its variant
# in turn, so that a drift of the machine's speed during the run falls on all
# servers alike (not on whichever server came last). Only the loaded server
# uses a CPU; the others wait in epoll.
bench_group() { # group cases...
    local case variant name port
    shift # the group is what its cases share; the cases follow
    local names=() ports=() pids=() variants=() i wanted=" "
    for case in "$@"; do
        wanted+="$(variant_of "$case") "
    done
    for variant in plain basic userfilter w2 tls; do
        [[ $wanted == *" $variant "* ]] || continue
        for name in $ACTIVE; do
            takes_part "$name" "$variant" || continue
            port=${PORT_OF[$name]}
            [[ $variant != basic && $variant != userfilter ]] || port=${AUX_PORT[$variant]}
            if ! start_server "$name" "$port" "$variant"; then
                "${HELPER[@]}" note "$RESULTS" "$name" "status-$variant" \
                    "did not start with the $variant config (BENCH_KEEP=1 keeps its log)"
                continue
            fi
            if [[ $variant == plain ]]; then
                note_plain "$name" "$port"
            elif [[ $variant == tls ]] && ! "${HELPER[@]}" check "$port" tls >/dev/null 2>&1; then
                "${HELPER[@]}" note "$RESULTS" "$name" check-tls "GET https://.../1k.html failed"
            fi
            names+=("$name") ports+=("$port") pids+=("$SERVER_PID") variants+=("$variant")
        done
    done
    local round
    for ((round = 1; round <= ROUNDS; round++)); do
        export RUN_ROUND=$round # recorded with each run (helper.py record)
        for case in "$@"; do
            variant=$(variant_of "$case")
            for i in "${!names[@]}"; do
                [[ ${variants[i]} == "$variant" && -n ${pids[i]} ]] || continue # or died earlier
                SERVER_PID=${pids[i]}
                run_case "${names[i]}" "${ports[i]}" "$case" || pids[i]=""
            done
        done
    done
    for i in "${!pids[@]}"; do
        [[ -z ${pids[i]} ]] || stop_pid "${pids[i]}"
    done
}

# Exec to first accepted connection and first response, STARTS times, plain config.
# The helper starts and stops the server itself; it runs in the background so
# that cleanup can stop it (and the server it started) on a signal.
measure_startup() { # name port
    local pid
    server_cmd "$1" "$(write_conf "$1" "$2" plain)"
    wait_quiet
    "${HELPER[@]}" startup "$RESULTS" "$1" "$2" "$STARTS" "$WORK/$1-startup.out" -- "${CMD[@]}" &
    pid=$!
    STARTED_PIDS+=("$pid")
    wait "$pid" || "${HELPER[@]}" note "$RESULTS" "$1" status-startup "start-up timing failed"
    stop_pid "$pid"
}

# The cases of one group among BENCH_CASES, in order.
cases_of() { # group
    local c
    for c in $CASES; do
        [[ $(group_of "$c") != "$1" ]] || printf '%s ' "$c"
    done
}

# Every group in turn (the servers interleaved within it), then start-up.
bench_all() {
    local group cases name
    for group in plain w2 tls; do
        read -r -a cases <<<"$(cases_of "$group")"
        ((${#cases[@]} == 0)) || bench_group "$group" "${cases[@]}"
    done
    if [[ -n $(cases_of none) ]]; then
        for name in $ACTIVE; do
            measure_startup "$name" "${PORT_OF[$name]}"
        done
    fi
}

# The run's facts for the report header: machine, command line, tool versions.
write_meta() { # busy_before
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
        "$1" "$(h2load --version 2>/dev/null | awk '{print $NF; exit}')" <<'EOF'
import json, os, platform, subprocess, sys, time
cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
out, cmd, seconds, warmup, wrk, busy_before, h2load = sys.argv[1:]
json.dump({
    "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
    "cpu": cpu, "kernel": platform.release(), "command": cmd,
    "seconds": seconds, "warmup": warmup, "wrk": wrk, "h2load": h2load,
    "busy_before": busy_before,
}, open(out, "w"))
EOF
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
    [[ $STARTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_STARTS must be a positive integer"
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
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
    export MARMOSET_LOG=warn # no access log, like the others
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
        ACTIVE+="$name "
        PORT_OF[$name]=$port
        log "$name on 127.0.0.1:$port"
    done
    if [[ " $ACTIVE " == *" marmoset "* ]]; then
        for name in basic userfilter; do
            port=$("${HELPER[@]}" freeport "$base" "${used[@]}")
            used+=("$port")
            base=$((port + 1))
            AUX_PORT[$name]=$port
        done
    fi
    bench_all

    write_meta "$busy_before"
    "${HELPER[@]}" report "$RESULTS" "$WORK/meta.json"
}

main "$@"
