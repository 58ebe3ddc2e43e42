"""Drive headless Chromium over the DevTools protocol (with the `websockets`
package already used by the bridge tests) for tests/it/bridges.rs.

Usage: python3 browser.py <command> <base url>
  chat    two tabs on /chat.html exchange messages
  mjpeg   /stream.html shows frames that change over time
  signin  a protected page sends the browser to /signin.html; signing in
          there brings it back with the token cookie (user and password
          are the 3rd and 4th arguments)

Chromium is started with a fresh profile in a temporary directory and
stopped at the end; every wait is bounded.
"""

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import websockets

TIMEOUT = 20
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--ignore-certificate-errors", "--window-size=800,600",
]


class Browser:
    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending = {}
        self.reader = asyncio.create_task(self.read())

    async def read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                fut = self.pending.pop(msg.get("id"), None)
                if fut and not fut.done():
                    fut.set_result(msg)
        except websockets.exceptions.ConnectionClosed:
            pass

    async def call(self, method, params=None, session=None):
        i = next(self.ids)
        msg = {"id": i, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        fut = asyncio.get_running_loop().create_future()
        self.pending[i] = fut
        await self.ws.send(json.dumps(msg))
        reply = await asyncio.wait_for(fut, TIMEOUT)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def tab(self, url):
        target = await self.call("Target.createTarget", {"url": url})
        s = await self.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        return Tab(self, s["sessionId"])


class Tab:
    def __init__(self, browser, session):
        self.b = browser
        self.s = session

    async def eval(self, expr):
        r = await self.b.call("Runtime.evaluate",
                              {"expression": expr, "returnByValue": True, "awaitPromise": True},
                              self.s)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def act(self, expr):
        """Run `expr`, which navigates (a form submit, `location.href = …`):
        the navigation may destroy the page's context before the answer
        comes back, which is not an error here."""
        try:
            return await self.eval(expr)
        except RuntimeError as e:
            if "destroyed" in str(e) or "navigated" in str(e):
                return None
            raise

    async def wait(self, expr, what):
        deadline = time.monotonic() + TIMEOUT
        last = None
        while time.monotonic() < deadline:
            try:
                if await self.eval(expr):
                    return
            except RuntimeError as e:
                # The page navigated away while the expression ran (its
                # execution context was destroyed): ask the next page.
                last = e
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what} ({expr}); last error: {last}")

    async def screenshot(self):
        r = await self.b.call("Page.captureScreenshot", {"format": "png"}, self.s)
        return base64.b64decode(r["data"])


async def chat(b, base):
    one = await b.tab(f"{base}/chat.html?name=alice")
    two = await b.tab(f"{base}/chat.html?name=bob")
    for t in (one, two):
        await t.wait("document.body && document.body.dataset.state === 'open'", "the chat socket")
    await one.eval("sendChat('hello from tab one')")
    await two.wait("document.getElementById('log').textContent.includes('alice: hello from tab one')",
                   "tab two to show tab one's message")
    await two.eval("sendChat('and back from tab two')")
    await one.wait("document.getElementById('log').textContent.includes('bob: and back from tab two')",
                   "tab one to show tab two's message")
    print("chat ok: two tabs exchanged messages")


async def mjpeg(b, base, out):
    t = await b.tab(f"{base}/stream.html")
    await t.wait("(() => { const i = document.getElementById('camera');"
                 " return !!i && i.naturalWidth > 0; })()", "the first frame")
    width = await t.eval("document.getElementById('camera').naturalWidth")
    first = await t.screenshot()
    shots = [first]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        shots.append(await t.screenshot())
        if shots[-1] != first:
            break
    if out:
        with open(os.path.join(out, "mjpeg-first.png"), "wb") as f:
            f.write(first)
        with open(os.path.join(out, "mjpeg-last.png"), "wb") as f:
            f.write(shots[-1])
    if shots[-1] == first:
        raise AssertionError("the picture never changed")
    await t.wait("document.getElementById('clock').textContent.includes('seq')", "the JSON stream")
    clock = await t.eval("document.getElementById('clock').textContent")
    print(f"json stream shown: {clock}")
    print(f"mjpeg ok: frames {width} px wide, picture changed after {len(shots) - 1} screenshots")


async def signin(b, base, user, password):
    t = await b.tab(f"{base}/private/secret.html")
    await t.wait("location.pathname === '/signin.html' && !!document.getElementById('signin')"
                 " && document.readyState !== 'loading'",
                 "the redirect to the sign-in page")
    await t.act(f"document.getElementById('username').value = {json.dumps(user)};"
                f" document.getElementById('password').value = {json.dumps(password)};"
                " if (!new URLSearchParams(location.search).get('redirect_uri'))"
                "   document.getElementById('redirect_uri').value = '/private/secret.html';"
                " document.getElementById('signin').submit(); true")
    await t.wait("location.pathname === '/private/secret.html'"
                 " && document.body.textContent.includes('secret content')",
                 "the protected page after signing in")
    # The cookie carries the session: a fresh load of another protected page works.
    await t.act("location.href = '/private/other.html'; true")
    await t.wait("document.body && document.body.textContent.includes('other secret')",
                 "a second protected page with the token cookie")
    print("signin ok: signed in through the form, protected pages load with the cookie")


async def run(cmd, base, out, extra=()):
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="marmoset-chromium-")
    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(port_file) or len(open(port_file).read().split()) < 2:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not start")
            await asyncio.sleep(0.1)
        port, path = open(port_file).read().split()[:2]
        async with websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as ws:
            b = Browser(ws)
            if cmd == "chat":
                await chat(b, base)
            elif cmd == "signin":
                await signin(b, base, *extra)
            else:
                await mjpeg(b, base, out)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    cmd, base, *rest = sys.argv[1:]
    if cmd == "signin":
        asyncio.run(run(cmd, base, None, rest))
    else:
        asyncio.run(run(cmd, base, rest[0] if rest else None))


if __name__ == "__main__":
    main()
