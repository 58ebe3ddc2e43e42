#!/bin/sh
# Instructions per request, under valgrind's callgrind: repeatable where
# wall-clock and CPU-time figures are not (shared or noisy machines, VMs
# without perf). Runs the release binary on bench/conf/marmoset.conf.in,
# once with no request and once with N keep-alive GETs of PATH on one
# connection, and prints (total_N - total_0) / N.
#
#   bench/callgrind.sh [N] [PATH]       default 2000 /1k.html
#
# CALLGRIND_CONF=basic or userfilter takes bench/conf/marmoset-<name>.conf.in
# instead (Basic authentication; Basic then the userfilter), and the
# requests carry `Authorization: Basic root:secret`.
#
# The profile of the N run stays in target/callgrind/ for
# `callgrind_annotate target/callgrind/callgrind.out.N | head -60`.
#
# Under valgrind 3.19 `openat2` fails with ENOSYS: the resolver takes its
# realpath fallback, so a file's first open and every 404 cost ~3,200
# instructions more here than on the real kernel.
#
# CALLGRIND_LOG=info writes the access log (to the valgrind log file);
# the default, warn, measures without it, like bench/run.sh.
#
# CALLGRIND_BIN=PATH profiles that binary instead of building
# target/release/marmoset (another feature set or profile).
set -e
cd "$(dirname "$0")/.."
n="${1:-2000}"
path="${2:-/1k.html}"
out=target/callgrind
mkdir -p "$out/htdocs"
head -c 1024 /dev/zero | tr '\0' 'a' > "$out/htdocs/1k.html"
bin="${CALLGRIND_BIN:-target/release/marmoset}"
[ -n "${CALLGRIND_BIN:-}" ] || cargo build --release --quiet
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
template=bench/conf/marmoset.conf.in
header=""
if [ -n "${CALLGRIND_CONF:-}" ]; then
    template="bench/conf/marmoset-$CALLGRIND_CONF.conf.in"
    header="Authorization: Basic cm9vdDpzZWNyZXQ="
fi
rm -f "$out/filter.db"
sed -e "s|@PORT@|$port|g" -e "s|@DOCROOT@|$PWD/$out/htdocs|g" -e "s|@WORK@|$PWD/$out|g" \
    "$template" > "$out/marmoset.conf"

run() { # $1 = number of requests
    MARMOSET_LOG="${CALLGRIND_LOG:-warn}" valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.$1" \
        "$bin" -f "$out/marmoset.conf" 2>"$out/valgrind.$1.log" &
    pid=$!
    python3 - "$port" "$1" "$path" "$header" <<'PY'
import socket, sys, time
port, n, path, header = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
for _ in range(600):
    try:
        s = socket.create_connection(("127.0.0.1", port)); break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("server did not start")
extra = f"{header}\r\n" if header else ""
req = f"GET {path} HTTP/1.1\r\nHost: bench\r\n{extra}\r\n".encode()
buf = b""
for _ in range(n):
    s.sendall(req)
    while True:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            if len(rest) >= length:
                buf = rest[length:]
                break
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
s.close()
PY
    kill -TERM "$pid"
    wait "$pid" || true
    sed -n 's/^totals: *//p;s/^summary: *//p' "$out/callgrind.out.$1" | head -1
}
base=$(run 0)
total=$(run "$n")
echo "instructions: $base at rest, $total with $n requests of $path"
echo "per request: $(( (total - base) / n ))"
