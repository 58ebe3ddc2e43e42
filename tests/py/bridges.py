"""WebSocket clients for tests/it/bridges.rs, on the `websockets` package.

Usage: python3 bridges.py <command> <url> [args...]

Each command prints what it checked and exits 0, or raises (non-zero exit
with a traceback naming the failed check). Every wait is bounded.
"""

import asyncio
import base64
import os
import socket
import ssl
import sys
import time

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

TIMEOUT = 10


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def echo(url):
    """Text, binary, 64 KiB both kinds, fragmented, ping, on an echo server."""
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send("hello, marmoset")
        check(await recv(ws) == "hello, marmoset", "text echo")
        data = bytes(range(256)) * 4
        await ws.send(data)
        check(await recv(ws) == data, "binary echo")
        big = ("0123456789abcdef" * 4096)
        check(len(big) == 65536, "64 KiB text")
        await ws.send(big)
        check(await recv(ws) == big, "64 KiB text echo")
        blob = bytes((i * 7 + 3) % 256 for i in range(65536))
        await ws.send(blob)
        check(await recv(ws) == blob, "64 KiB binary echo")
        await ws.send(["frag-one ", "frag-two ", "frag-three"])
        check(await recv(ws) == "frag-one frag-two frag-three", "fragmented text")
        await ws.send([b"\xff\x00", b"\x01\xfe"])
        check(await recv(ws) == b"\xff\x00\x01\xfe", "fragmented binary")
        t = time.monotonic()
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, TIMEOUT)
        print(f"ping answered in {1000 * (time.monotonic() - t):.1f} ms")
        await ws.close(1000, "done")
        check(ws.close_code == 1000, f"close code {ws.close_code}")
    print("echo ok")


async def too_big(url, limit):
    """A message over `maxmessage` closes the connection with 1009."""
    limit = int(limit)
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send("x" * limit)
        check(len(await recv(ws)) == limit, "a message of exactly the limit passes")
        await ws.send("y" * (limit + 1))
        try:
            await recv(ws)
            raise AssertionError("a message over the limit came back")
        except ConnectionClosed:
            pass
        check(ws.close_code == 1009, f"close code {ws.close_code}")
    print(f"size limit ok: {limit + 1} bytes closed with 1009")


async def stream_echo(url):
    """A SOCK_STREAM echo: small messages come back whole."""
    async with websockets.connect(url) as ws:
        await ws.send("line one")
        check(await recv(ws) == "line one", "text over a byte pipe")
        await ws.send(b"\x80\x81\x82")
        check(await recv(ws) == b"\x80\x81\x82", "non-UTF-8 comes back as binary")
    print("stream echo ok")


def packet_server(path):
    """A SOCK_SEQPACKET listener at `path` (replacing a stale socket)."""
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(path)
    s.listen(4)
    s.setblocking(False)
    return s


async def accept(server):
    loop = asyncio.get_running_loop()
    conn, _ = await asyncio.wait_for(loop.sock_accept(server), TIMEOUT)
    return conn


async def close_codes(url, path):
    """Client closes (4001 echoed, server reads EOF); server closes (1001)."""
    server = packet_server(path)
    loop = asyncio.get_running_loop()
    # 1. The client closes first.
    async with websockets.connect(url) as ws:
        conn = await accept(server)
        await ws.send("ping")
        check(await asyncio.wait_for(loop.sock_recv(conn, 100), TIMEOUT) == b"ping", "relayed")
        await ws.close(4001, "client leaves")
        check(ws.close_code == 4001, f"client close echoed as {ws.close_code}")
        eof = await asyncio.wait_for(loop.sock_recv(conn, 100), TIMEOUT)
        check(eof == b"", f"server reads end of stream, got {eof!r}")
        conn.close()
    print("client close: code 4001 echoed, server saw EOF")
    # 2. The server closes first.
    async with websockets.connect(url) as ws:
        conn = await accept(server)
        await loop.sock_sendall(conn, b"last words")
        check(await recv(ws) == "last words", "server message")
        conn.close()
        try:
            await recv(ws)
            raise AssertionError("message after the server closed")
        except ConnectionClosed:
            pass
        code = ws.close_code
        check(code == 1001, f"server close gives 1001, got {code}")
    print("server close: client got 1001")
    server.close()


async def chat(url, n):
    """`n` clients at once, each sends one message, all receive all."""
    n = int(n)
    clients = []
    for i in range(n):
        clients.append(await websockets.connect(url, open_timeout=TIMEOUT))
    t = time.monotonic()
    await asyncio.gather(*(ws.send(f"msg {i}") for i, ws in enumerate(clients)))

    async def collect(ws):
        got = set()
        while len(got) < n:
            got.add(await recv(ws))
        return got

    results = await asyncio.wait_for(asyncio.gather(*(collect(ws) for ws in clients)), 60)
    want = {f"msg {i}" for i in range(n)}
    check(all(r == want for r in results), "every client got every message")
    elapsed = time.monotonic() - t
    await asyncio.gather(*(ws.close() for ws in clients))
    print(f"chat ok: {n} clients x {n} messages delivered in {elapsed:.2f} s")


async def wss(url, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    async with websockets.connect(url, ssl=ctx) as ws:
        await ws.send("over tls")
        check(await recv(ws) == "over tls", "echo over wss")
    print("wss ok")


async def auth(url, user, password):
    """401 before any handshake without credentials; RPC `whoami` with."""
    try:
        async with websockets.connect(url):
            raise AssertionError("handshake without credentials")
    except InvalidStatus as e:
        check(e.response.status_code == 401, f"status {e.response.status_code}")
        check("basic" in e.response.headers.get("WWW-Authenticate", "").lower(), "challenge")
    bad = base64.b64encode(f"{user}:wrong".encode()).decode()
    try:
        async with websockets.connect(url, additional_headers={"Authorization": f"Basic {bad}"}):
            raise AssertionError("handshake with a wrong password")
    except InvalidStatus as e:
        check(e.response.status_code == 401, f"status {e.response.status_code}")
    good = base64.b64encode(f"{user}:{password}".encode()).decode()
    async with websockets.connect(url, additional_headers={"Authorization": f"Basic {good}"}) as ws:
        await ws.send('{"jsonrpc":"2.0","id":1,"method":"whoami"}')
        reply = await recv(ws)
        check(f'"result":"{user}"' in reply, f"whoami: {reply}")
        await ws.send('{"jsonrpc":"2.0","id":2,"method":"add","params":[1,2,39]}')
        reply = await recv(ws)
        check('"result":42' in reply, f"add: {reply}")
    print("auth ok: 401 without or with wrong credentials; the server knows the user")


async def direct(url, path):
    """Option `direct`: the server receives the client socket and talks on it."""
    server = packet_server(path)
    async with websockets.connect(url) as ws:
        conn = await accept(server)
        loop = asyncio.get_running_loop()
        conn.settimeout(TIMEOUT)
        msg, fds, _, _ = await asyncio.wait_for(
            loop.run_in_executor(None, lambda: socket.recv_fds(conn, 1024, 1)), TIMEOUT)
        check(len(fds) == 1, "one descriptor received")
        peer = msg.decode()
        check(peer.startswith("127.0.0.1:"), f"payload is the peer address: {peer}")
        client = socket.socket(fileno=fds[0])
        # An unmasked text frame "direct", written by the server itself.
        client.sendall(b"\x81\x06direct")
        check(await recv(ws) == "direct", "frame from the server process")
        client.close()
        conn.close()
    server.close()
    print(f"direct ok: socket handed over with payload {peer}")


def producer(path, rate):
    """A plain-stream producer: `rate` bytes a second in 32 KiB chunks, to
    every reader, until killed. (`url` is unused: the socket path comes
    first.)"""
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    server.setblocking(False)
    readers = []
    chunk = bytes(range(256)) * 128
    period = len(chunk) / int(rate)
    next_at = time.monotonic()
    while True:
        try:
            conn, _ = server.accept()
            conn.setblocking(True)
            readers.append(conn)
        except BlockingIOError:
            pass
        for r in readers[:]:
            try:
                r.sendall(chunk)
            except OSError:
                readers.remove(r)
        next_at += period
        time.sleep(max(0.0, next_at - time.monotonic()))


def main():
    if sys.argv[1] == "producer":
        producer(*sys.argv[2:])
        return
    cmd, url, *args = sys.argv[1:]
    fn = {
        "echo": echo,
        "stream-echo": stream_echo,
        "too-big": too_big,
        "close-codes": close_codes,
        "chat": chat,
        "wss": wss,
        "auth": auth,
        "direct": direct,
    }[cmd]
    asyncio.run(fn(url, *args))


if __name__ == "__main__":
    main()
