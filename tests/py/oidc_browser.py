"""Headless Chromium signs in with OpenID Connect (DevTools protocol, as
tests/py/browser.py), for tests/it/auth_oidc.rs.

Usage: python3 oidc_browser.py <marmoset base url> <provider base url> <login> [screenshot.png]

The browser asks marmoset for /private/secret.html, is sent to the
provider, fills in and submits its login form, comes back through the
callback to the page it asked for, then loads a second protected page with
the session cookie. The cookies are checked through the browser's own
store: the session token is HttpOnly (invisible to page scripts), the
login's state cookie is gone.

Chromium is started with a fresh profile in a temporary directory and
stopped at the end; every wait is bounded.
"""

import asyncio
import json
import os
import sys

import browser as chromium


async def signin(b, base, provider, login, shot):
    t = await b.tab(f"{base}/private/secret.html")
    await t.wait(f"location.href.startsWith({json.dumps(provider + '/interaction/')})"
                 " && !!document.querySelector('input[name=login]')",
                 "the provider's login form")
    print(f"at the provider: {await t.eval('location.pathname')}")
    await t.act(f"document.querySelector('input[name=login]').value = {json.dumps(login)};"
                " document.querySelector('input[name=password]').value = 'any';"
                " document.querySelector('form').submit(); true")
    await t.wait(f"location.href === {json.dumps(base + '/private/secret.html')}"
                 " && document.body && document.body.textContent.includes('secret content')",
                 "the protected page after signing in")
    if shot:
        with open(shot, "wb") as f:
            f.write(await t.screenshot())
    visible = await t.eval("document.cookie")
    if "X-Auth-Token" in visible:
        raise AssertionError(f"the session token is visible to scripts: {visible}")
    if f"X-Remote-User={login}" not in visible:
        raise AssertionError(f"no X-Remote-User cookie: {visible}")
    cookies = (await b.call("Storage.getCookies"))["cookies"]
    names = [c["name"] for c in cookies]
    token = [c for c in cookies if c["name"] == "X-Auth-Token"]
    if not token or not token[0]["httpOnly"]:
        raise AssertionError(f"no HttpOnly session cookie: {names}")
    if any(n.startswith("MarmosetOidc-") for n in names):
        raise AssertionError(f"the state cookie is left: {names}")
    await t.act("location.href = '/private/other.html'; true")
    await t.wait("document.body && document.body.textContent.includes('other secret')",
                 "a second protected page with the session cookie")
    print(f"oidc signin ok: signed in at the provider as {login}, protected pages load")


async def run(base, provider, login, shot):
    # browser.run's Chromium start-up, with our own scenario.
    exe = chromium.shutil.which("chromium") or "/usr/bin/chromium"
    profile = chromium.tempfile.mkdtemp(prefix="marmoset-chromium-")
    proc = chromium.subprocess.Popen(
        [exe, *chromium.FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=chromium.subprocess.DEVNULL, stderr=chromium.subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = chromium.time.monotonic() + chromium.TIMEOUT
        while not os.path.exists(port_file) or len(open(port_file).read().split()) < 2:
            if chromium.time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not start")
            await asyncio.sleep(0.1)
        port, path = open(port_file).read().split()[:2]
        async with chromium.websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as ws:
            await signin(chromium.Browser(ws), base, provider, login, shot)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except chromium.subprocess.TimeoutExpired:
            proc.kill()
        chromium.shutil.rmtree(profile, ignore_errors=True)


def main():
    base, provider, login, *rest = sys.argv[1:]
    asyncio.run(run(base, provider, login, rest[0] if rest else None))


if __name__ == "__main__":
    main()
