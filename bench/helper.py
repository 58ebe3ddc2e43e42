#!/usr/bin/env python3
"""Helpers for bench/run.sh: free ports, /proc readings, HTTP sanity checks,
wrk output parsing and the final report.

Sub-commands (all print to stdout):
  freeport START [SKIP...]     first free loopback TCP port >= START, not in SKIP
  systicks                     "user+nice+system steal" clock ticks of the machine
  busy SECONDS                 percent of one CPU the whole machine used over SECONDS
  cpu PID                      "utime stime" clock ticks of PID and its descendants
  rss PID                      "VmRSS VmHWM" in KiB, summed over PID and descendants
  tree PID                     PID and its descendants, one per line
  wait PORT PID SECONDS        wait until PORT accepts; exit 1 if PID dies or time runs out
  check PORT [tls]             GET /1k.html, /1m.bin, /missing; exit 1 on a wrong answer
                               (tls: over HTTPS, certificate not verified)
  startup JSONL SERVER PORT N OUT -- CMD...
                               N times: run CMD (pinned to CPU 0), time exec -> first
                               accepted connection and -> first response (connect
                               polled every 1 ms), stop it; append the medians
  record JSONL SERVER CASE WRKOUT TICKS0 TICKS1 HWM_KIB [TIMES0 TIMES1]
                               (TICKS0/1: "utime stime" of the server, from `cpu`)
                               parse a wrk or h2load output file, append one result line, print
                               the % of a CPU other processes used during the run
                               (TIMES0/1: bash `times` output before/after wrk, for
                               wrk's own CPU time)
  note JSONL SERVER KEY VALUE  append a per-server fact (idle_rss_kib, status, version...)
  report JSONL META_JSON       print the text table, then the Markdown version
"""

import json
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time
import http.client

CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ["nginx", "lighttpd", "marmoset"]

# case id -> (label, what it is)
CASES = [
    ("1k-ka-50", "1 KiB, keep-alive, 50 conn"),
    ("1k-ka-500", "1 KiB, keep-alive, 500 conn"),
    ("1k-close-50", "1 KiB, Connection: close, 50 conn"),
    ("1m-ka-50", "1 MiB, keep-alive, 50 conn"),
    ("404-ka-50", "404, keep-alive, 50 conn"),
    ("1k-pipe16-50", "1 KiB, pipelined x16, 50 conn"),
    ("1k-ka-50-w2", "1 KiB, keep-alive, 50 conn, 2 workers, unpinned"),
    ("h2-1k", "1 KiB, HTTP/2 over TLS, 50 conn x 10 streams"),
    ("1k-basic-50", "1 KiB, Basic auth, keep-alive, 50 conn (marmoset only)"),
    ("1k-userfilter-50", "1 KiB, Basic + userfilter, keep-alive, 50 conn (marmoset only)"),
    ("startup", "start-up (median of starts)"),
]
# Cases run on another server config than the one-worker plain one: their peak
# RSS gets a row of its own instead of counting in the memory rows.
OWN_CONFIG = {"1k-ka-50-w2", "h2-1k", "1k-basic-50", "1k-userfilter-50"}


# ---------------------------------------------------------------- /proc

def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        ppid = int(fields[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def ticks_of(pid):
    """(utime, stime) clock ticks of PID."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0, 0
    fields = stat[stat.rfind(")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    return int(fields[11]), int(fields[12])


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sys_ticks():
    """(user+nice+system, steal) clock ticks of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2], (v[7] if len(v) > 7 else 0)


def cmd_systicks():
    print(*sys_ticks())


def cmd_busy(seconds):
    """Percent of one CPU used by everything on the machine over SECONDS."""
    a, _ = sys_ticks()
    time.sleep(float(seconds))
    b, _ = sys_ticks()
    print(f"{100.0 * (b - a) / CLK_TCK / float(seconds):.0f}")


def cmd_cpu(pid):
    ticks = [ticks_of(p) for p in tree(int(pid))]
    print(sum(u for u, _ in ticks), sum(s for _, s in ticks))


def cmd_rss(pid):
    procs = tree(int(pid))
    rss = sum(status_kib(p, "VmRSS") for p in procs)
    hwm = sum(status_kib(p, "VmHWM") for p in procs)
    print(rss, hwm)


def cmd_tree(pid):
    for p in tree(int(pid)):
        print(p)


# ---------------------------------------------------------------- network

def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def cmd_freeport(start, *skip):
    skip = {int(s) for s in skip}
    for port in range(int(start), int(start) + 200):
        if port not in skip and port_free(port) and not port_open(port):
            print(port)
            return
    sys.exit("no free port near %s" % start)


def cmd_wait(port, pid, seconds):
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            sys.exit(1)
        if port_open(int(port)):
            return
        time.sleep(0.05)
    sys.exit(1)


def connection(port, tls):
    if not tls:
        return http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection("127.0.0.1", int(port), timeout=5, context=ctx)


def cmd_check(port, tls=""):
    expect = [("/1k.html", 200, 1024), ("/1m.bin", 200, 1024 * 1024), ("/missing.html", 404, None)]
    bad = []
    conn = connection(port, tls)
    for path, status, size in expect:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        if r.status != status or (size is not None and len(body) != size):
            bad.append(f"GET {path}: {r.status}, {len(body)} bytes (want {status}"
                       + (f", {size} bytes)" if size else ")"))
        if r.getheader("connection", "").lower() == "close":
            conn.close()
            conn = connection(port, tls)
    conn.close()
    if bad:
        print("; ".join(bad))
        sys.exit(1)


# ---------------------------------------------------------------- start-up

def first_contact(port, proc):
    """Seconds until a connect succeeds, then until GET /1k.html is answered
    on it; None when the process dies first or after 10 s."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 10 and proc.poll() is None:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            time.sleep(0.001)
            continue
        t_conn = time.perf_counter()
        with s:
            s.sendall(b"GET /1k.html HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            ok = s.recv(64).startswith(b"HTTP/1.1 200")
        return t_conn, (time.perf_counter() if ok else None)
    return None


def stop(proc):
    """SIGTERM to the server's process group, SIGKILL after 5 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers (workers)
    except ProcessLookupError:
        pass
    proc.wait()


def cmd_startup(jsonl, server, port, n, out, dashdash, *cmd):
    port, conns, answers, current = int(port), [], [], []
    # run.sh's cleanup stops this helper with SIGTERM: take the server along.
    def on_term(*_):
        if current:
            stop(current[0])
        os._exit(143)
    signal.signal(signal.SIGTERM, on_term)
    os.sched_setaffinity(0, {1})  # the poller on CPU 1, the server on CPU 0
    with open(out, "ab") as log:
        for _ in range(int(n)):
            t0 = time.perf_counter()
            current[:] = [subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True,
                                           preexec_fn=lambda: os.sched_setaffinity(0, {0}))]
            got = first_contact(port, current[0])
            stop(current.pop())
            if got is None:
                sys.exit(f"{server} did not accept a connection within 10 s")
            conns.append((got[0] - t0) * 1e3)
            if got[1] is not None:
                answers.append((got[1] - t0) * 1e3)
    res = {"server": server, "case": "startup", "starts": len(conns),
           "connect_ms": statistics.median(conns),
           "response_ms": statistics.median(answers) if len(answers) == len(conns) else None}
    res["connect_ms_all"] = [round(c, 2) for c in conns]
    append(jsonl, res)
    print(f"[bench] {server:8} startup       first connection {res['connect_ms']:.1f} ms, "
          f"first response {res['response_ms'] or 0:.1f} ms (medians of {len(conns)}; "
          f"connection {min(conns):.1f}-{max(conns):.1f} ms)", file=sys.stderr)


# ---------------------------------------------------------------- wrk, h2load

UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_wrk(text):
    res = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", text)
    if not m:
        raise ValueError("no 'N requests in' line in wrk output")
    res["requests"] = int(m.group(1))
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    res["seconds"] = float(m.group(2)) * scale
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    res["rps"] = float(m.group(1)) if m else res["requests"] / res["seconds"]
    m = re.search(r"Transfer/sec:\s+([\d.]+)([KMGT]?)B", text)
    res["bytes_per_s"] = float(m.group(1)) * UNITS[m.group(2)] if m else 0.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    res["socket_errors"] = dict(zip(["connect", "read", "write", "timeout"],
                                    map(int, m.groups()))) if m else {}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)", text, re.M)
    if m:
        res["p99_ms"] = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    return res


def parse_h2load(text):
    """h2load's summary, in parse_wrk's keys."""
    m = re.search(r"finished in ([\d.]+)(us|ms|s)\b, ([\d.]+) req/s, ([\d.]+)([KMGT]?)B/s", text)
    if not m:
        raise ValueError("no 'finished in' line in h2load output")
    res = {"seconds": float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)],
           "rps": float(m.group(3)), "bytes_per_s": float(m.group(4)) * UNITS[m.group(5)]}
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", text)
    res["requests"] = int(m.group(1)) if m else 0
    res["socket_errors"] = dict(zip(["failed", "errored", "timeout"],
                                    map(int, m.groups()[1:]))) if m else {}
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    res["non_2xx"] = int(m.group(3)) + int(m.group(4)) if m else 0
    m = re.search(r"Application protocol: (\S+)", text)
    res["protocol"] = m.group(1) if m else None
    m = re.search(r"TLS Protocol: (\S+)\nCipher: (\S+)", text)
    res["tls"] = f"{m.group(1)} {m.group(2)}" if m else None
    return res


def append(jsonl, obj):
    with open(jsonl, "a") as f:
        f.write(json.dumps(obj) + "\n")


def children_cpu_s(times_file):
    """Seconds of user+system CPU of the shell's reaped children, from the
    second line of bash's `times` ("0m1.234s 0m0.567s")."""
    with open(times_file) as f:
        lines = f.read().splitlines()
    total = 0.0
    for m, s in re.findall(r"(\d+)m([\d.]+)s", lines[1]):
        total += int(m) * 60 + float(s)
    return total


def cmd_record(jsonl, server, case, wrkout, t0, t1, hwm, times0=None, times1=None,
               sys0=None, sys1=None):
    with open(wrkout) as f:
        text = f.read()
    res = parse_h2load(text) if "finished in" in text else parse_wrk(text)
    (u0, s0), (u1, s1) = (map(int, t.split()) for t in (t0, t1))
    cpu_s = (u1 - u0 + s1 - s0) / CLK_TCK
    res.update(server=server, case=case, cpu_s=cpu_s, hwm_kib=int(hwm),
               round=int(os.environ.get("RUN_ROUND", "1")))
    res["cpu_us_per_req"] = cpu_s * 1e6 / res["requests"] if res["requests"] else None
    # User time alone: the server's own code, without the kernel's TCP work,
    # whose cost per request moves with the host's speed from run to run.
    res["user_us_per_req"] = ((u1 - u0) / CLK_TCK * 1e6 / res["requests"]
                              if res["requests"] else None)
    res["cpu_pct"] = 100.0 * cpu_s / res["seconds"] if res["seconds"] else None
    if times0 and times1:
        wrk_s = children_cpu_s(times1) - children_cpu_s(times0)
        res["wrk_cpu_pct"] = 100.0 * wrk_s / res["seconds"] if res["seconds"] else None
        if sys0 and sys1:
            # user+system time of the machine not spent by the server or wrk:
            # other work that shared the CPUs and makes the figures noisy.
            (b0, st0), (b1, st1) = (map(int, x.split()) for x in (sys0, sys1))
            other_s = (b1 - b0) / CLK_TCK - cpu_s - wrk_s
            res["other_cpu_pct"] = max(0.0, 100.0 * other_s / res["seconds"])
            res["steal_pct"] = 100.0 * (st1 - st0) / CLK_TCK / res["seconds"]
    append(jsonl, res)
    errs = sum(res["socket_errors"].values())
    print(f"{res['rps']:.0f} req/s, {res['bytes_per_s'] / 2**20:.1f} MiB/s, "
          f"{res['cpu_us_per_req'] or 0:.2f} CPU us/req, server CPU {res['cpu_pct'] or 0:.0f}%"
          + (f", wrk CPU {res['wrk_cpu_pct']:.0f}%" if res.get("wrk_cpu_pct") is not None else "")
          + (f", other CPU {res['other_cpu_pct']:.0f}%" if res.get("other_cpu_pct") is not None else "")
          + (f", socket errors {res['socket_errors']}" if errs else "")
          + (f", non-2xx {res['non_2xx']}" if res["non_2xx"] else ""), file=sys.stderr)
    # For run.sh: how much CPU other processes took, to decide on a retry.
    print(round(res.get("other_cpu_pct") or 0))


def cmd_note(jsonl, server, key, value):
    append(jsonl, {"server": server, "note": key, "value": value})


# ---------------------------------------------------------------- report

# Figures of a load run that are summarised over rounds by their median.
MEDIAN_KEYS = ("rps", "bytes_per_s", "cpu_us_per_req", "user_us_per_req", "cpu_pct",
               "wrk_cpu_pct", "other_cpu_pct")


def load(jsonl):
    tries, notes = {}, {}
    with open(jsonl) as f:
        for line in f:
            obj = json.loads(line)
            if "note" in obj:
                notes.setdefault(obj["server"], {})[obj["note"]] = obj["value"]
            else:
                # Several tries of one run (retries on a busy machine): keep the
                # one during which other processes used the least CPU.
                key = (obj["server"], obj["case"], obj.get("round", 1))
                if key not in tries or (obj.get("other_cpu_pct") or 0) <= (tries[key].get("other_cpu_pct") or 0):
                    tries[key] = obj
    rounds = {}
    for (server, case, _), obj in sorted(tries.items()):
        rounds.setdefault((server, case), []).append(obj)
    return {key: over_rounds(objs) for key, objs in rounds.items()}, notes


def over_rounds(objs):
    """One run standing for its rounds (BENCH_ROUNDS): the median of each
    figure, the highest peak RSS, and every round's CPU per request."""
    if len(objs) == 1:
        return objs[0]
    res = dict(objs[0])
    for k in MEDIAN_KEYS:
        vals = [o[k] for o in objs if o.get(k) is not None]
        res[k] = statistics.median(vals) if vals else None
    res["hwm_kib"] = max(o.get("hwm_kib", 0) for o in objs)
    res["rounds"] = len(objs)
    for k in ("cpu_us_per_req", "user_us_per_req"):
        res[k + "_all"] = [round(o[k], 2) if o.get(k) is not None else None for o in objs]
    return res


def fmt(v, digits):
    if v is None:
        return "n/a"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def ratio(a, b, metric):
    if "better" not in metric:  # context rows (CPU %), no ratio
        return ""
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def load_rows(case, label, runs):
    """Rows of one wrk or h2load case."""
    def val(server, key, scale=1.0):
        r = runs.get((server, case))
        if r is None or r.get(key) is None:
            return None
        return r[key] * scale
    rows = [(label, "req/s (higher is better)", {s: val(s, "rps") for s in SERVERS}, 0)]
    if case.startswith("1m"):
        rows.append((label, "MiB/s (higher is better)",
                     {s: val(s, "bytes_per_s", 1 / 2**20) for s in SERVERS}, 1))
    rows.append((label, "CPU us/req (lower is better)",
                 {s: val(s, "cpu_us_per_req") for s in SERVERS}, 2))
    rows.append((label, "user CPU us/req (lower is better)",
                 {s: val(s, "user_us_per_req") for s in SERVERS}, 2))
    rows.append((label, "server CPU % (of 1 core)", {s: val(s, "cpu_pct") for s in SERVERS}, 0))
    client = "h2load" if case.startswith("h2") else "wrk"
    rows.append((label, f"{client} CPU % (near 100: client-bound)",
                 {s: val(s, "wrk_cpu_pct") for s in SERVERS}, 0))
    if case in OWN_CONFIG:
        rows.append((label, "peak RSS MiB (lower is better)",
                     {s: val(s, "hwm_kib", 1 / 1024) for s in SERVERS}, 1))
    return rows


def startup_rows(label, runs):
    def val(server, key):
        return runs.get((server, "startup"), {}).get(key)
    return [(label, "exec to first connection, ms (lower is better)",
             {s: val(s, "connect_ms") for s in SERVERS}, 1),
            (label, "exec to first response, ms (lower is better)",
             {s: val(s, "response_ms") for s in SERVERS}, 1)]


def build_rows(runs, notes):
    """Rows of (case label, metric label, {server: value}, digits)."""
    rows = []
    for case, label in CASES:
        if not any((s, case) in runs for s in SERVERS):
            continue  # not run (BENCH_CASES)
        rows += startup_rows(label, runs) if case == "startup" else load_rows(case, label, runs)
    idle = {s: (float(notes[s]["idle_rss_kib"]) / 1024 if "idle_rss_kib" in notes.get(s, {}) else None)
            for s in SERVERS}
    peak = {}
    for s in SERVERS:
        hwms = [r["hwm_kib"] for (srv, case), r in runs.items()
                if srv == s and "hwm_kib" in r and case not in OWN_CONFIG]
        peak[s] = max(hwms) / 1024 if hwms else None
    rows.append(("memory", "idle RSS MiB (lower is better)", idle, 1))
    rows.append(("memory", "peak RSS MiB (lower is better)", peak, 1))
    return rows


def text_table(rows):
    head = ["case", "metric", *SERVERS, "marmoset/nginx", "marmoset/lighttpd"]
    body = []
    last = None
    for case, metric, vals, d in rows:
        body.append([case if case != last else "", metric,
                     *(fmt(vals[s], d) for s in SERVERS),
                     ratio(vals["marmoset"], vals["nginx"], metric),
                     ratio(vals["marmoset"], vals["lighttpd"], metric)])
        last = case
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    def line(r):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    out = [line(head), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in body]
    return "\n".join(out)


def md_table(rows):
    head = ["case", "metric", *SERVERS, "marmoset/nginx", "marmoset/lighttpd"]
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|"]
    for case, metric, vals, d in rows:
        out.append("| " + " | ".join([case, metric, *(fmt(vals[s], d) for s in SERVERS),
                                      ratio(vals["marmoset"], vals["nginx"], metric),
                                      ratio(vals["marmoset"], vals["lighttpd"], metric)]) + " |")
    return "\n".join(out)


def problems(runs, notes):
    out = []
    for s in SERVERS:
        for key, value in sorted(notes.get(s, {}).items()):
            if key.startswith("status"):
                out.append(f"{s}: {value}")
            elif key.startswith("check"):
                out.append(f"{s}: sanity check failed: {value}")
    for (s, case), r in sorted(runs.items()):
        if case == "startup":
            continue
        if case.startswith("h2") and r.get("protocol") != "h2":
            out.append(f"{s} / {case}: h2load negotiated {r.get('protocol')}, not h2")
        if r.get("other_cpu_pct", 0) > 15:
            out.append(f"{s} / {case}: other processes used {r['other_cpu_pct']:.0f}% of a CPU "
                       "during the run (noisy figure)")
        if r.get("steal_pct", 0) > 5:
            out.append(f"{s} / {case}: the hypervisor stole {r['steal_pct']:.0f}% of a CPU")
        errs = {k: v for k, v in r.get("socket_errors", {}).items() if v}
        if errs:
            out.append(f"{s} / {case}: client errors {errs}")
        if r.get("non_2xx") and not case.startswith("404"):
            out.append(f"{s} / {case}: {r['non_2xx']} non-2xx responses")
        if case.startswith("404") and r.get("non_2xx", 0) < r["requests"]:
            out.append(f"{s} / {case}: only {r['non_2xx']} of {r['requests']} answers were not 2xx/3xx")
    return out


def peak_cases(runs):
    """For each server, the case during which its peak RSS was first reached."""
    out = []
    for s in SERVERS:
        mine = [(i, case, runs[(s, case)]["hwm_kib"]) for i, (case, _) in enumerate(CASES)
                if (s, case) in runs and case not in OWN_CONFIG and case != "startup"]
        if mine:
            top = max(h for _, _, h in mine)
            out.append(f"{s} {next(c for _, c, h in mine if h == top)}")
    return ", ".join(out)


def tls_line(runs):
    """What h2load negotiated with each server (TLS version, cipher)."""
    return ", ".join(f"{s} {runs[(s, 'h2-1k')].get('tls')}" for s in SERVERS if (s, "h2-1k") in runs)


def rounds_line(runs):
    """Every round's CPU per request, per case and server (BENCH_ROUNDS > 1)."""
    parts = []
    for case, _ in CASES:
        for s in SERVERS:
            r = runs.get((s, case), {})
            if r.get("cpu_us_per_req_all"):
                parts.append(f"{case} {s} " + " / ".join(fmt(v, 2) for v in r["cpu_us_per_req_all"]))
    return "; ".join(parts)


def auth_line(runs):
    """marmoset's Basic and userfilter cases against its plain 1k-ka-50: the
    median over rounds of each round's ratio (the cases of a round run
    seconds apart, so a drift of the host's speed falls on both), in CPU
    and in user time per request."""
    plain = runs.get(("marmoset", "1k-ka-50"))
    if not plain:
        return ""
    def per_round(r, k):
        return r.get(k + "_all") or [r.get(k)]
    parts = []
    for case, name in (("1k-basic-50", "Basic"), ("1k-userfilter-50", "Basic + userfilter")):
        r = runs.get(("marmoset", case))
        if not r:
            continue
        figs = []
        for k, what in (("cpu_us_per_req", "CPU"), ("user_us_per_req", "user CPU")):
            pairs = [(a, b) for a, b in zip(per_round(r, k), per_round(plain, k))
                     if a is not None and b]
            if not pairs:
                continue
            extra = statistics.median(a / b - 1 for a, b in pairs)
            delta = statistics.median(a - b for a, b in pairs)
            figs.append(f"{what} {100 * extra:+.0f} % ({delta:+.2f} µs)")
        if figs:
            parts.append(f"{name} " + ", ".join(figs))
    return "; ".join(parts)


def cmd_report(jsonl, meta_json):
    runs, notes = load(jsonl)
    with open(meta_json) as f:
        meta = json.load(f)
    rows = build_rows(runs, notes)
    probs = problems(runs, notes)
    versions = ", ".join(f"{s} {notes.get(s, {}).get('version', '?')}" for s in SERVERS)

    print("=" * 78)
    print(f"Results ({meta['date']}, {meta['nproc']} CPUs, {meta['cpu']})")
    print(f"Ratios are marmoset/other: for req/s and MiB/s above 1 is better for marmoset;")
    print(f"for CPU us/req and RSS below 1 is better for marmoset.")
    print()
    print(text_table(rows))
    peaks = peak_cases(runs)
    if peaks:
        print("\nPeak RSS first reached during: " + peaks)
    if tls_line(runs):
        print("h2-1k negotiated: " + tls_line(runs))
    if probs:
        print("\nProblems:")
        for p in probs:
            print("  - " + p)
    print()
    print("=" * 78)
    print("Markdown (paste into bench/RESULTS.md):")
    print()
    print(f"- date: {meta['date']}")
    print(f"- machine: {meta['nproc']} CPUs (`nproc`), {meta['cpu']}, Linux {meta['kernel']}")
    print(f"- command: `{meta['command']}`")
    print(f"- {meta['seconds']} s per run after a {meta['warmup']} s warm-up; server pinned to CPU 0, "
          f"`wrk -t1` pinned to CPU 1; one worker/process per server; no access log")
    print("- except: 1k-ka-50-w2 runs 2 workers per server with nothing pinned; h2-1k is "
          "`h2load -t1 -c50 -m10 -D SECONDS` over TLS (self-signed P-256 certificate) pinned to "
          "CPU 1; startup is the median over starts of exec to first connection / response")
    print(f"- versions: {versions}, {meta['wrk']}"
          + (f", h2load {meta['h2load']}" if meta.get("h2load") else ""))
    auth = auth_line(runs)
    if auth:
        print(f"- marmoset's authenticated cases over its plain 1k-ka-50 (median of the "
              f"rounds' ratios): {auth}")
    spread = rounds_line(runs)
    if spread:
        print(f"- each load figure is the median of its rounds; CPU µs/req of every round: {spread}")
    others = [r["other_cpu_pct"] for r in runs.values() if r.get("other_cpu_pct") is not None]
    if others:
        span = (f"{max(others):.0f}%" if round(min(others)) == round(max(others))
                else f"{min(others):.0f}–{max(others):.0f}%")
        print(f"- CPU used by other processes during the reported runs: {span} "
              f"of one CPU (machine busy before start: {meta['busy_before']}%)")
    print(f"- ratios are marmoset/other: for req/s and MiB/s higher is better; "
          f"for CPU µs/request and RSS lower is better")
    print()
    print(md_table(rows).replace("CPU us/req", "CPU µs/req"))
    tls = tls_line(runs)
    if tls:
        print()
        print(f"h2-1k negotiated: {tls}.")
    if peaks:
        print()
        print(f"Peak RSS first reached during: {peaks}.")
    if probs:
        print()
        print("Problems seen during the run:")
        print()
        for p in probs:
            print(f"- {p}")


def main(argv):
    cmds = {
        "freeport": cmd_freeport, "cpu": cmd_cpu, "rss": cmd_rss, "tree": cmd_tree,
        "wait": cmd_wait, "check": cmd_check, "record": cmd_record, "note": cmd_note,
        "report": cmd_report, "systicks": cmd_systicks, "busy": cmd_busy,
        "startup": cmd_startup,
    }
    if len(argv) < 2 or argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
