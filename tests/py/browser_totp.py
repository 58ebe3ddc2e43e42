"""Headless Chromium through a password + TOTP sign-in (tests/it/auth_totp.rs).

Usage: python3 browser_totp.py <base url> <user> <password>

A protected page sends the browser to /signin.html; the password brings it
to the code page /totp.html (the second factor); the page's enrolment link
gives the otpauth:// URL, from which this script computes the code
(tests/fixtures/auth/totp.py, Python's hmac) and types it in; the browser
lands on the protected page and keeps the two-factor cookie.
"""

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

import websockets

from browser import FLAGS, TIMEOUT, Browser

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "totp", os.path.join(HERE, "..", "fixtures", "auth", "totp.py"))
totp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(totp)


async def flow(b, base, user, password):
    t = await b.tab(f"{base}/private/secret.html")
    await t.wait("location.pathname === '/signin.html' && !!document.getElementById('signin')"
                 " && document.readyState !== 'loading'",
                 "the redirect to the password page")
    await t.act(f"document.getElementById('username').value = {json.dumps(user)};"
                f" document.getElementById('password').value = {json.dumps(password)};"
                " document.getElementById('redirect_uri').value = '/private/secret.html';"
                " document.getElementById('signin').submit(); true")
    # Parsed to the end: the page's script, after the form, fills the user
    # in (the form alone may be seen before it ran).
    await t.wait("location.pathname === '/totp.html' && !!document.getElementById('code')"
                 " && document.readyState !== 'loading'",
                 "the code page after the password")
    who = await t.eval("document.getElementById('username').value")
    if who != user:
        raise AssertionError(f"the code page did not know the user: {who!r}")
    url = await t.eval("fetch(document.getElementById('enrol').href).then(r => r.text())")
    if not url.startswith(f"otpauth://totp/totp:{user}?"):
        raise AssertionError(f"no enrolment URL: {url!r}")
    key = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["secret"][0]
    # A fresh step, so the code stays valid while it is typed in.
    if time.time() % 30 > 23:
        await asyncio.sleep(30 - time.time() % 30 + 0.2)
    code = totp.code(totp.b32decode(key), 6, totp.hashlib.sha1, int(time.time()) // 30)
    await t.act(f"document.getElementById('password').value = {json.dumps(code)};"
                " document.getElementById('redirect_uri').value = '/private/secret.html';"
                " document.getElementById('code').submit(); true")
    await t.wait("location.pathname === '/private/secret.html'"
                 " && document.body.textContent.includes('secret content')",
                 "the protected page after the code")
    await t.act("location.href = '/private/other.html'; true")
    await t.wait("document.body && document.body.textContent.includes('other secret')",
                 "a second protected page with the two-factor cookie")
    again = await t.eval("fetch('/totp').then(r => r.status)")
    if again != 200:
        raise AssertionError(f"the two-factor session could not show its key: {again}")
    print("totp ok: password, enrolment, code; protected pages load with the cookie")


async def main(base, user, password):
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
            await flow(Browser(ws), base, user, password)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
