"""A recording webhook endpoint: a real HTTP/1.1 server on 127.0.0.1.

The worker's HTTP client (libcurl) keeps connections alive and may send
`Expect: 100-continue`; the standard library's server handles both when it
speaks HTTP/1.1, so what the tests observe is what a real integrator's
endpoint would see.

Each path can be told how to answer (status, delay, Retry-After, body),
either always the same or as a sequence such as 500, 500, then 204.

Run standalone for the demo or for poking at a worker by hand:

    python -m harness.receiver --port 8099 --secret whsec_...

prints one line per delivery, with the signature checked.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable


@dataclass
class Request:
    """One request as the receiver saw it."""
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    received_at: float  # time.time()

    def json(self):
        return json.loads(self.body)


@dataclass
class Behaviour:
    """How to answer one request."""
    status: int = 204
    delay: float = 0.0
    retry_after: str | int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _as_behaviour(spec) -> Behaviour:
    if isinstance(spec, Behaviour):
        return spec
    if isinstance(spec, int):
        return Behaviour(status=spec)
    if isinstance(spec, dict):
        return Behaviour(**spec)
    raise TypeError(f"cannot answer with {spec!r}")


def _route(path: str) -> str:
    """Behaviour and filtering use the path without its query string."""
    return path.split("?", 1)[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "harness-receiver/1"
    sys_version = ""

    # The server object carries the Receiver.
    def _receiver(self) -> "Receiver":
        return self.server.receiver  # type: ignore[attr-defined]

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers end with an empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self):
        body = self._read_body()
        rec = self._receiver()
        request = Request(
            method=self.command, path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body, received_at=time.time())
        behaviour = rec._record(request)
        route = _route(self.path)
        rec._opened(route, +1)
        try:
            rec._wait_gate(route)
            if behaviour.delay:
                rec._sleep(behaviour.delay)
            self._answer(behaviour)
        finally:
            rec._opened(route, -1)

    def _answer(self, behaviour: "Behaviour") -> None:
        self.send_response(behaviour.status)
        if behaviour.retry_after is not None:
            self.send_header("Retry-After", str(behaviour.retry_after))
        for name, value in behaviour.headers.items():
            self.send_header(name, value)
        # 1xx, 204 and 304 have no body and must not announce one.
        if behaviour.status >= 200 and behaviour.status not in (204, 304):
            self.send_header("Content-Length", str(len(behaviour.body)))
        self.end_headers()
        if behaviour.body and self.command != "HEAD" and behaviour.status not in (204, 304):
            self.wfile.write(behaviour.body)

    do_POST = do_PUT = do_GET = do_DELETE = do_PATCH = do_HEAD = _handle

    def log_message(self, format, *args):
        """Quiet: the tests read requests(), not an access log."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Receiver:
    """Recording HTTP server in a background thread.

    recv = Receiver().start(); recv.set("/a", status=500)
    ... recv.wait_for("/a", 1, timeout=60) ...; recv.stop()
    """

    def __init__(self, port: int = 0, on_request: Callable[[Request], None] | None = None,
                 host: str = "127.0.0.1"):
        self._server = _Server((host, port), _Handler)
        self._server.receiver = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.on_request = on_request
        self._cond = threading.Condition()
        self._requests: list[Request] = []
        self._fixed: dict[str, Behaviour] = {}
        self._sequences: dict[str, list[Behaviour]] = {}
        self._default = Behaviour()
        self._thread: threading.Thread | None = None
        # hold()/release(): paths whose requests wait until released, and
        # requests received but not answered yet, per path.
        self._gates: dict[str, threading.Event] = {}
        self._open: dict[str, int] = {}
        self._released = threading.Event()  # set by stop(): no more waiting

    def start(self) -> "Receiver":
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"receiver:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        # Held and delayed requests answer at once, so that no handler
        # thread outlives the test waiting for a gate.
        self._released.set()
        self.release()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path: str = "/") -> str:
        if not path.startswith("/"):
            path = "/" + path
        return f"http://127.0.0.1:{self.port}{path}"

    # Configuring answers.
    def set(self, path: str, status: int = 204, delay: float = 0.0,
            retry_after: str | int | None = None, body: bytes = b"",
            headers: dict[str, str] | None = None) -> None:
        """Answer every request to path this way (replaces any sequence)."""
        with self._cond:
            self._sequences.pop(path, None)
            self._fixed[path] = Behaviour(status, delay, retry_after, body,
                                          dict(headers or {}))

    def set_default(self, status: int = 204, delay: float = 0.0,
                    retry_after: str | int | None = None, body: bytes = b"") -> None:
        """How to answer paths that have no answer of their own (204 at first)."""
        with self._cond:
            self._default = Behaviour(status, delay, retry_after, body)

    def set_sequence(self, path: str, answers: Iterable) -> None:
        """Answer the next requests to path in turn; the last one repeats.

        Each answer is a status code, a dict of Behaviour fields, or a
        Behaviour: set_sequence("/a", [500, 500, 204]).
        """
        seq = [_as_behaviour(a) for a in answers]
        if not seq:
            raise ValueError("empty sequence")
        with self._cond:
            self._fixed.pop(path, None)
            self._sequences[path] = seq

    def _record(self, request: Request) -> Behaviour:
        route = _route(request.path)
        with self._cond:
            self._requests.append(request)
            seq = self._sequences.get(route)
            if seq:
                behaviour = seq.pop(0) if len(seq) > 1 else seq[0]
            else:
                behaviour = self._fixed.get(route, self._default)
            self._cond.notify_all()
        if self.on_request is not None:
            try:
                self.on_request(request)
            except Exception as exc:  # a printer must not break the endpoint
                print(f"receiver: on_request failed: {exc}", file=sys.stderr)
        return behaviour

    # Holding requests open (a slow endpoint without a fixed sleep).
    def hold(self, path: str) -> None:
        """Keep every request to path open (no answer) until release()."""
        with self._cond:
            self._gates.setdefault(path, threading.Event())

    def release(self, path: str | None = None) -> None:
        """Let the held requests to path (every path when None) answer,
        with the path's configured behaviour; later ones are not held."""
        with self._cond:
            paths = list(self._gates) if path is None else [path]
            for p in paths:
                gate = self._gates.pop(p, None)
                if gate is not None:
                    gate.set()

    def outstanding(self, path: str | None = None) -> int:
        """Requests to path received but not answered yet (held, delayed
        or being written)."""
        with self._cond:
            if path is None:
                return sum(self._open.values())
            return self._open.get(path, 0)

    def _wait_gate(self, route: str) -> None:
        with self._cond:
            gate = self._gates.get(route)
        if gate is not None:
            while not gate.wait(0.5):
                if self._released.is_set():
                    return

    def _sleep(self, seconds: float) -> None:
        """A delay that stop() cuts short."""
        self._released.wait(seconds)

    def _opened(self, route: str, delta: int) -> None:
        with self._cond:
            self._open[route] = self._open.get(route, 0) + delta
            self._cond.notify_all()

    # Reading what arrived.
    def requests(self, path: str | None = None) -> list[Request]:
        with self._cond:
            return [r for r in self._requests
                    if path is None or _route(r.path) == path]

    def wait_for(self, path: str | None, count: int, timeout: float = 60.0) -> list[Request]:
        """Block until at least count requests reached path; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self._requests
                       if path is None or _route(r.path) == path]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({_route(r.path) for r in self._requests})
                    raise TimeoutError(
                        f"receiver: expected {count} request(s) to {path or 'any path'} "
                        f"within {timeout:.0f}s, got {len(got)}; "
                        f"paths that did receive requests: {seen or 'none'}")
                self._cond.wait(min(left, 0.5))

    def clear(self) -> None:
        """Forget recorded requests and configured answers."""
        with self._cond:
            self._default = Behaviour()
            self._requests.clear()
            self._fixed.clear()
            self._sequences.clear()


# Standalone mode: one readable line per delivery.

def check_signature(request: Request, secrets: list[str]) -> str:
    """'valid', 'INVALID' or 'unchecked', using the reference verifier."""
    if not secrets:
        return "unchecked"
    from standardwebhooks import Webhook
    for secret in secrets:
        try:
            Webhook(secret).verify(request.body, request.headers, json_parse=False)
            return "valid"
        except Exception:
            continue
    return "INVALID"


def describe(request: Request, secrets: list[str]) -> str:
    """One line: time, path, event type, webhook-id, attempt, signature, body."""
    h = request.headers
    stamp = time.strftime("%H:%M:%S", time.localtime(request.received_at))
    body = request.body.decode("utf-8", errors="replace")
    return (f"{stamp} {request.method} {request.path} "
            f"type={h.get('x-ordinavo-event-type', '-')} "
            f"id={h.get('webhook-id', '-')} "
            f"attempt={h.get('x-ordinavo-attempt', '-')} "
            f"signature={check_signature(request, secrets)} "
            f"body={body}")


def secrets_for(path: str, secrets: list[tuple[str | None, str]]) -> list[str]:
    """The secrets that may sign a delivery to path (path-less ones apply to all)."""
    route = _route(path)
    return [s for p, s in secrets if p is None or p == route]


def parse_secret(arg: str) -> tuple[str | None, str]:
    """`whsec_...` for every path, or `/path=whsec_...` for one path."""
    if arg.startswith("/") and "=" in arg:
        path, secret = arg.split("=", 1)
        return path, secret
    return None, arg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harness.receiver",
        description="Print every webhook delivery on one line, with its "
                    "Standard Webhooks signature checked.")
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (0.0.0.0 in a container)")
    ap.add_argument("--secret", action="append", default=[], type=parse_secret,
                    help="whsec_... (all paths) or /path=whsec_...; repeatable")
    ap.add_argument("--status", type=int, default=204,
                    help="status to answer with (default 204)")
    args = ap.parse_args(argv)

    def show(request: Request) -> None:
        print(describe(request, secrets_for(request.path, args.secret)), flush=True)

    recv = Receiver(args.port, on_request=show, host=args.host)
    recv.set_default(status=args.status)
    recv.start()
    print(f"receiver listening on {recv.url('/')} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        recv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
