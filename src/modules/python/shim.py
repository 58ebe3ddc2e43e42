# The Python side of marmoset's WSGI gateway (PEP 3333), loaded once as the
# module `_marmoset`. The Rust side calls `run` on a blocking thread for
# each request with four callables:
#   fetch()            -> bytes of the request body, b"" at the end (the
#                         GIL is released while it waits)
#   head(status, hdrs) -> sends the status line and headers
#   send(data)         -> sends a body chunk; False once the client is gone
#   log(text)          -> writes to the server log
import sys
import traceback


class Input:
    """wsgi.input: the request body, read from the client on demand."""

    def __init__(self, fetch):
        self._fetch = fetch
        self._buf = bytearray()
        self._eof = False

    def _more(self):
        if self._eof:
            return False
        chunk = self._fetch()
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def _take(self, n):
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def read(self, size=-1):
        if size is None or size < 0:
            while self._more():
                pass
            return self._take(len(self._buf))
        while len(self._buf) < size and self._more():
            pass
        return self._take(size)

    def read1(self, size=-1):
        if not self._buf:
            self._more()
        return self._take(len(self._buf) if size is None or size < 0 else size)

    def readline(self, size=-1):
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                n = i + 1
                break
            if not self._more():
                n = len(self._buf)
                break
        if size is not None and 0 <= size < n:
            n = size
        return self._take(n)

    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readable(self):
        return True

    def close(self):
        pass


class Errors:
    """wsgi.errors: lines go to the server log."""

    def __init__(self, log):
        self._log = log
        self._pending = ""

    def write(self, s):
        self._pending += str(s)
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            if line.strip():
                self._log(line)
        return len(s)

    def writelines(self, seq):
        for s in seq:
            self.write(s)

    def flush(self):
        if self._pending.strip():
            self._log(self._pending)
        self._pending = ""


class ClientGone(Exception):
    pass


def run(app, environ, fetch, head, send, log):
    environ["wsgi.input"] = Input(fetch)
    errors = Errors(log)
    environ["wsgi.errors"] = errors
    state = {"status": None, "headers": None, "sent": False}

    def send_head():
        if state["sent"]:
            return
        if state["status"] is None:
            raise AssertionError("the application did not call start_response")
        state["sent"] = True
        head(state["status"], [(str(k), str(v)) for k, v in state["headers"]])

    def write(data):
        send_head()
        if data and not send(bytes(data)):
            raise ClientGone()

    def start_response(status, headers, exc_info=None):
        if exc_info:
            try:
                if state["sent"]:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif state["status"] is not None:
            raise AssertionError("start_response called twice without exc_info")
        state["status"] = str(status)
        state["headers"] = list(headers)
        return write

    try:
        result = app(environ, start_response)
        try:
            for chunk in result:
                if chunk:
                    send_head()
                    if not send(bytes(chunk)):
                        return
            send_head()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except ClientGone:
        return
    except BaseException:
        log(traceback.format_exc().rstrip("\n"))
        raise
    finally:
        errors.flush()


def load(spec):
    """`module:callable` -> the callable."""
    import importlib
    module, _, name = spec.partition(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


class Scripts:
    """The original's script API as a WSGI application: `/<script>.py/<f>`
    calls `f(request)` in the script, with `request` an instance of the
    script's `HttpRequest` (META = the CGI variables, _body = the raw body,
    then `_load()`); the result is read like a Django `HttpResponse`."""

    def __init__(self):
        self.modules = {}

    def module(self, path):
        mod = self.modules.get(path)
        if mod is None:
            import importlib.util
            import os
            name = "_marmoset_script_" + os.path.splitext(os.path.basename(path))[0]
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            self.modules[path] = mod
        return mod

    def __call__(self, environ, start_response):
        import http
        mod = self.module(environ["SCRIPT_FILENAME"])
        func = getattr(mod, environ.get("PATH_INFO", "").strip("/") or "index", None)
        if func is None or not callable(func):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such function\n"]
        request = mod.HttpRequest()
        request.META = {k: v for k, v in environ.items() if isinstance(v, str)}
        request._body = environ["wsgi.input"].read()
        if hasattr(request, "_load"):
            request._load()
        response = func(request)
        status = int(getattr(response, "status_code", 200))
        if hasattr(response, "items"):
            headers = [(str(k), str(v)) for k, v in response.items()]
        else:
            headers = [(str(k), str(v)) for k, v in dict(getattr(response, "headers", {})).items()]
        ctype = getattr(response, "content_type", None)
        if ctype and not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", str(ctype)))
        content = getattr(response, "content", b"")
        if isinstance(content, str):
            content = content.encode("utf-8")
        close = getattr(response, "close", None)
        if close is not None:
            close()
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        start_response(f"{status} {reason}".strip(), headers)
        return [bytes(content)]
