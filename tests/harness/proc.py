"""Child processes that cannot outlive the test run, and free loopback ports.

Every service the harness starts (the Kafka JVM, redis-server, webhookd) goes
through spawn(). Three layers make sure none is left behind:

* the owning object's stop(), called by pytest finalizers or the demo;
* an atexit hook that stops whatever is still registered (normal exit,
  an uncaught exception, Ctrl-C, or SIGTERM once install_signal_exit() ran);
* PR_SET_PDEATHSIG, so the kernel sends SIGTERM to the child when the
  Python process dies without running any Python code (SIGKILL, a crash).

Each child gets its own session and process group, so a Ctrl-C in the
terminal reaches only Python, which then stops the children in order (the
worker first, then the services it depends on), and so stop() can signal
the whole group, including anything the child itself started.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO, Mapping, Sequence

_PR_SET_PDEATHSIG = 1

# Looked up here, in the parent, so the forked child only has to call it:
# a child forked from a threaded program should do as little as possible
# before exec.
_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                   ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int

# Insertion-ordered (a dict used as a set), so stop_all() knows the start order.
_live: dict[subprocess.Popen, None] = {}
_live_lock = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The port is released before the caller binds it, so another program
    could take it in between; on a test machine that is rare enough, and
    every service fails loudly (and is reported) when its port is taken.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent(parent_pid: int):
    """preexec_fn: ask the kernel for SIGTERM when the parent goes away.

    The death signal is tied to the thread that forked, so spawn() must be
    called from a thread that lives as long as the child should (the main
    thread, in pytest and in the demo). If the parent already died between
    fork and prctl, the child ends itself at once.
    """
    def preexec():
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)
    return preexec


def spawn(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
          cwd: str | None = None, stdout: int | IO | None = None,
          stderr: int | IO | None = None,
          stdin: int | IO | None = subprocess.DEVNULL) -> subprocess.Popen:
    """Start argv as a registered child that dies with this process."""
    proc = subprocess.Popen(
        list(argv), env=dict(env) if env is not None else None, cwd=cwd,
        stdin=stdin, stdout=stdout, stderr=stderr,
        start_new_session=True, preexec_fn=_die_with_parent(os.getpid()))
    with _live_lock:
        _live[proc] = None
    return proc


def stop(proc: subprocess.Popen, timeout: float = 15.0,
         sig: int = signal.SIGTERM) -> int:
    """Signal the child's process group, wait, then SIGKILL it.

    Returns the exit status (negative for a signal, as in Popen).
    """
    if proc.poll() is None:
        _signal_group(proc, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    forget(proc)
    return proc.returncode


def forget(proc: subprocess.Popen) -> None:
    """Drop a child that has exited from the atexit list."""
    with _live_lock:
        _live.pop(proc, None)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        # The group leader is gone and its id reused; signal the child only.
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def stop_all(timeout: float = 10.0) -> None:
    """Stop every child still registered, most recently started first.

    The newest children (workers) depend on the older ones (Kafka, Redis),
    so reversing the start order lets a worker shut down cleanly while its
    services are still up.
    """
    with _live_lock:
        procs = list(reversed(_live))
    for proc in procs:
        try:
            stop(proc, timeout)
        except Exception as exc:  # keep stopping the others
            print(f"harness: could not stop pid {proc.pid}: {exc}",
                  file=sys.stderr)


atexit.register(stop_all)


def install_signal_exit() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit so finalizers and atexit run.

    Python's default for SIGTERM ends the process without any cleanup; the
    children would then only get their death signal and not the orderly
    shutdown (worker before Kafka) that stop_all() gives.
    """
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def wait_until(predicate, timeout: float, interval: float = 0.05,
               what: str = "condition"):
    """Poll predicate until it returns something truthy; return that value.

    Raises TimeoutError naming `what` when the deadline passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def tail(path: str, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
