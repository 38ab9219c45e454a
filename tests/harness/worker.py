"""Runs the webhookd binary under test and captures what it says.

stdout is the worker's structured log (one JSON object per line); it is
read continuously in a thread so the worker never blocks on a full pipe,
kept in memory for assertions, and copied to a file for post-mortems.
stderr is kept the same way, separately.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Mapping

from . import proc

REPO_ROOT = Path(__file__).resolve().parents[2]


def webhookd_bin() -> Path:
    """WEBHOOKD_BIN, else build/default/webhookd in the repository."""
    env = os.environ.get("WEBHOOKD_BIN")
    return Path(env) if env else REPO_ROOT / "build" / "default" / "webhookd"


def base_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without stray WEBHOOKD_* settings, plus overrides.

    A WEBHOOKD_* variable left in a developer's shell must not change what a
    test runs against; WEBHOOKD_BIN only tells the harness where the binary is.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOKD_")}
    env.update({k: str(v) for k, v in (overrides or {}).items()})
    return env


class Worker:
    """One webhookd process.

    w = Worker(env).start(); w.wait_for_log("delivered"); w.stop()
    """

    def __init__(self, env: Mapping[str, str], binary: str | os.PathLike | None = None,
                 args: list[str] | None = None, name: str = "webhookd",
                 on_line: Callable[[str, str], None] | None = None):
        """on_line(stream, line), if given, sees every line as it arrives
        ("stdout" or "stderr"); the demo uses it to echo warnings."""
        self.binary = Path(binary) if binary else webhookd_bin()
        self.env = base_env(env)
        self.args = list(args or [])
        self.name = name
        self.on_line = on_line
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.stdout_path = self.tmp / "stdout.log"
        self.stderr_path = self.tmp / "stderr.log"
        self._cond = threading.Condition()
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._proc: subprocess.Popen | None = None
        self._readers: list[threading.Thread] = []
        self.exit_code: int | None = None

    def start(self) -> "Worker":
        if not self.binary.exists():
            raise FileNotFoundError(
                f"webhookd binary not found at {self.binary} (run `make`, or set WEBHOOKD_BIN)")
        self._proc = proc.spawn([str(self.binary), *self.args], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for stream, lines, path in ((self._proc.stdout, self._stdout, self.stdout_path),
                                    (self._proc.stderr, self._stderr, self.stderr_path)):
            kind = "stdout" if lines is self._stdout else "stderr"
            t = threading.Thread(target=self._pump, args=(stream, lines, path, kind),
                                 name=f"{self.name}-reader", daemon=True)
            t.start()
            self._readers.append(t)
        return self

    def _pump(self, stream, lines: list[str], path: Path, kind: str) -> None:
        """Copy one output stream into memory and a file, line by line."""
        with open(path, "wb") as f:
            for raw in iter(stream.readline, b""):
                f.write(raw)
                f.flush()
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                with self._cond:
                    lines.append(line)
                    self._cond.notify_all()
                if self.on_line is not None:
                    try:
                        self.on_line(kind, line)
                    except Exception:
                        pass  # an echo must never stop the capture
        stream.close()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # Output.
    def stdout_lines(self) -> list[str]:
        with self._cond:
            return list(self._stdout)

    def stderr_lines(self) -> list[str]:
        with self._cond:
            return list(self._stderr)

    def output(self) -> str:
        """Everything the worker wrote, stdout then stderr."""
        return "\n".join(self.stdout_lines() + self.stderr_lines())

    def logs(self) -> list[dict]:
        """The stdout lines that are JSON objects, parsed."""
        out = []
        for line in self.stdout_lines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def non_json_lines(self) -> list[str]:
        """stdout lines that are not one JSON object (the spec allows none)."""
        bad = []
        for line in self.stdout_lines():
            try:
                if isinstance(json.loads(line), dict):
                    continue
            except ValueError:
                pass
            bad.append(line)
        return bad

    def find_logs(self, match: str | Callable[[dict], bool] | None = None, **fields) -> list[dict]:
        """Log entries whose msg equals match (or for which match returns
        true) and whose fields equal the keyword arguments."""
        pred = _predicate(match, fields)
        return [e for e in self.logs() if pred(e)]

    def wait_for_log(self, match: str | Callable[[dict], bool] | None = None,
                     timeout: float = 60.0, **fields) -> dict:
        """Block until a matching log entry appears and return it.

        Fails early, with the worker's stderr, if the worker exits first.
        """
        pred = _predicate(match, fields)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._stdout:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(entry, dict) and pred(entry):
                        return entry
                exited = self._proc is not None and self._proc.poll() is not None
                left = deadline - time.monotonic()
                if exited or left <= 0:
                    break
                self._cond.wait(min(left, 0.25))
        what = _describe(match, fields)
        if exited:
            raise AssertionError(
                f"{self.name} exited with status {self._proc.returncode} before logging {what}\n"
                f"{self._tail_text()}")
        raise TimeoutError(f"{self.name}: no log entry {what} within {timeout:.0f}s\n"
                           f"{self._tail_text()}")

    def _tail_text(self, n: int = 25) -> str:
        out = self.stdout_lines()[-n:]
        err = self.stderr_lines()[-n:]
        return ("--- last stdout lines ---\n" + "\n".join(out) +
                "\n--- last stderr lines ---\n" + "\n".join(err))

    # Process control.
    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Signal the worker itself (not its group: that is stop()'s job)."""
        if self.running():
            self._proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        """Wait for exit and for its output to be read completely."""
        try:
            self.exit_code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{self.name} still running after {timeout:.0f}s\n"
                               f"{self._tail_text()}") from None
        for t in self._readers:
            t.join(10)
        proc.forget(self._proc)
        return self.exit_code

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after timeout. Returns the exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self.exit_code = proc.stop(self._proc, timeout)
        else:
            self.exit_code = self._proc.returncode
            proc.forget(self._proc)
        for t in self._readers:
            t.join(10)
        return self.exit_code

    def remove_files(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _predicate(match, fields) -> Callable[[dict], bool]:
    def pred(entry: dict) -> bool:
        if isinstance(match, str) and entry.get("msg") != match:
            return False
        if callable(match) and not match(entry):
            return False
        return all(entry.get(k) == v for k, v in fields.items())
    return pred


def _describe(match, fields) -> str:
    parts = []
    if isinstance(match, str):
        parts.append(f"msg={match!r}")
    elif callable(match):
        parts.append(getattr(match, "__name__", "predicate"))
    parts += [f"{k}={v!r}" for k, v in fields.items()]
    return "(" + ", ".join(parts) + ")"
