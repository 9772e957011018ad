"""A small client and a server process, for tests, benchmarks and scripts (stdlib only).

:class:`ServerProcess` starts ``python -m item2vec.serving MODEL_DIR --port 0 ...`` in a
subprocess, waits for the line it prints when ready and reads the URL from it;
:class:`Client` sends JSON requests over one keep-alive connection (one per thread)::

    with ServerProcess(model_dir, "--max-k", "100") as server:
        status, answer = Client(server.url).get("/similar?item=85123A&k=10")
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

READY = re.compile(r"item2vec serving .* on (http://\S+)")


class Client:
    """JSON over one HTTP/1.1 keep-alive connection (reopened after an error); not shared
    between threads."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.retries = 0
        """Requests sent again because the kept-alive connection was found closed."""
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """``(status, parsed JSON answer)``; ``body`` is sent as JSON, ``raw`` as is."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        head = {"Content-Type": "application/json", **(headers or {})}
        for attempt in (0, 1):  # a keep-alive connection the server closed: open another
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=head)
                response = self._conn.getresponse()
                payload = response.read()
            except (ConnectionError, http.client.BadStatusLine):
                self.close()
                if attempt:
                    raise
                self.retries += 1
                continue
            if response.getheader("connection", "").lower() == "close":
                self.close()
            return response.status, json.loads(payload) if payload else None
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return self.request("POST", path, body, **kwargs)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class ServerProcess:
    """``python -m item2vec.serving MODEL_DIR --port 0 *args`` in a subprocess.

    Its standard output and error go to files (a pipe nobody reads would block it), read
    back by :attr:`output`. :meth:`start` returns once the server printed its URL.
    """

    def __init__(self, model_dir: str | os.PathLike, *args: str, host: str = "127.0.0.1"):
        self.argv = [
            sys.executable, "-m", "item2vec.serving", os.fspath(model_dir),
            "--host", host, "--port", "0", *args,
        ]  # fmt: skip
        self.url = ""
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.ready_seconds = 0.0
        self._dir = tempfile.TemporaryDirectory(prefix="item2vec-serve-")
        self._out = Path(self._dir.name) / "stdout"
        self._err = Path(self._dir.name) / "stderr"

    def start(self, timeout: float = 120.0) -> ServerProcess:
        """Start and wait for the ready line; RuntimeError with the output if the process
        exits or stays silent for ``timeout`` seconds."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.started_at = time.perf_counter()
        with open(self._out, "wb") as out, open(self._err, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = READY.search(self._out.read_text(errors="replace"))
            if found:
                self.url = found.group(1)
                self.ready_seconds = time.perf_counter() - self.started_at
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start ({self.argv}):\n{self.output}")

    @property
    def output(self) -> str:
        """Everything the server printed so far, standard output then standard error."""
        text = [p.read_text(errors="replace") for p in (self._out, self._err) if p.exists()]
        return "\n".join(text)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit status (killed after ``timeout`` seconds)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.terminate(10.0)
            except subprocess.TimeoutExpired:
                pass

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()
