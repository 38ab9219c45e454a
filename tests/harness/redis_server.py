"""A private redis-server on 127.0.0.1, stoppable and restartable.

Tests of the Redis-outage behaviour stop the server in the middle of a run
and start it again on the same port, so the worker's configured URL stays
valid; the data is not kept across a restart (no persistence), which is
what a cache outage looks like anyway.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import proc

CONFIG = """\
# Written by the test harness.
bind 127.0.0.1
port {port}
protected-mode yes
daemonize no
pidfile {dir}/redis.pid
dir {dir}
logfile {dir}/redis.log
loglevel notice
save ""
appendonly no
databases 4
"""


class RedisServer:
    """One redis-server for a test run. start(), client(), stop(), start()."""

    def __init__(self, binary: str | None = None, start_timeout: float = 20.0):
        self.binary = binary or shutil.which("redis-server") or "/usr/bin/redis-server"
        self.start_timeout = start_timeout
        self.tmp = Path(tempfile.mkdtemp(prefix="webhookd-redis-"))
        self.port = proc.free_port()
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.tmp / "redis.log"

    def start(self) -> "RedisServer":
        """Start (or restart) on the same port and wait until PING answers."""
        if self.running:
            return self
        conf = self.tmp / "redis.conf"
        conf.write_text(CONFIG.format(port=self.port, dir=self.tmp))
        began = time.monotonic()
        with open(self.tmp / "console.log", "ab") as console:
            self._proc = proc.spawn([self.binary, str(conf)],
                                    stdout=console, stderr=subprocess.STDOUT)

        def answers():
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with status {self._proc.returncode}:\n"
                    f"{proc.tail(str(self.tmp / 'console.log'))}"
                    f"{proc.tail(str(self.log_file))}")
            try:
                return self.client(socket_timeout=1).ping()
            except Exception:
                return False
        try:
            proc.wait_until(answers, self.start_timeout, interval=0.05,
                            what=f"redis-server on port {self.port}")
        except BaseException:
            self.stop()
            raise
        print(f"harness: Redis on {self.url} started in "
              f"{time.monotonic() - began:.2f}s", file=sys.stderr)
        return self

    def client(self, **kwargs):
        """A redis-py client for this server (decoded strings by default)."""
        import redis
        kwargs.setdefault("decode_responses", True)
        return redis.Redis(host="127.0.0.1", port=self.port, db=0, **kwargs)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server; the port stays reserved for a later start()."""
        if self._proc is not None:
            proc.stop(self._proc, timeout)
            self._proc = None

    def cleanup(self) -> None:
        """Stop and remove the temporary directory (end of the run)."""
        self.stop()
        if not os.environ.get("HARNESS_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
