"""Real renderq processes for system tests, and Linux network namespaces to put them in.

Every wait here waits for an event (a log line, a state through the CLI) with a generous
deadline, and fails with a message that says what it was waiting for and what the
process printed last.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from renderq import tokens

DEADLINE = 120.0
DEBUG_LOG = ("--log-level", "DEBUG")
"""For the servers tests start: they follow each task by its lines (assigned, task started and
finished), which are DEBUG lines when all goes well."""


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def require(condition: bool, what: str) -> None:
    """Skip when a real component is missing, except in CI, where that is a failure."""
    import pytest

    if condition:
        return
    if in_ci():
        pytest.fail(f"CI=true and {what} is missing; it must be installed for the system tests")
    pytest.skip(f"{what} is missing")


def renderq_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "renderq", *args]


class Process:
    """A child process whose merged output is collected line by line."""

    def __init__(
        self, argv: Sequence[str], name: str, log_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.agent_id = ""
        """For agents: the id it printed when it started."""
        self.argv = list(argv)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.log_path = log_dir / f"{name}.log"
        self.popen = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        with open(self.log_path, "ab") as log:
            for raw in self.popen.stdout:
                log.write(raw)
                log.flush()
                with self._cond:
                    self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def tail(self, n: int = 30) -> str:
        with self._cond:
            return "\n".join(self.lines[-n:])

    def wait_for_line(self, pattern: str, timeout: float = DEADLINE, start: int = 0) -> re.Match[str]:
        """The first line (from index ``start``) matching ``pattern``."""
        regex = re.compile(pattern)
        end = time.monotonic() + timeout
        seen = start
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                left = end - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not self._reader.is_alive()):
                    state = "running" if self.popen.poll() is None else f"exited {self.popen.returncode}"
                    raise AssertionError(
                        f"{self.name} ({state}) never printed a line matching {pattern!r} within "
                        f"{timeout:.0f} s; last lines:\n{self.tail()}"
                    )
                self._cond.wait(min(left, 1.0))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then SIGKILL of the whole group if it lingers."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._reader.join(5)
        return self.popen.returncode


@dataclass
class Namespace:
    name: str
    address: str

    def argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Lan:
    """A private LAN: one bridge in a hub namespace, hosts in namespaces of their own,
    10.77.0.0/24. Nothing touches the machine's own network namespace."""

    prefix: str = field(default_factory=lambda: f"rq{os.getpid() % 100000}")
    hosts: dict[str, Namespace] = field(default_factory=dict)

    @property
    def hub(self) -> str:
        return f"{self.prefix}hub"

    def create(self, names: Sequence[str]) -> None:
        _ip("netns", "add", self.hub)
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        for i, name in enumerate(names, start=1):
            ns = f"{self.prefix}{name}"
            address = f"10.77.0.{i}"
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip(
                "link",
                "add",
                f"{self.prefix}v{i}",
                "netns",
                ns,
                "type",
                "veth",
                "peer",
                f"{self.prefix}p{i}",
                "netns",
                self.hub,
            )
            _ip("-n", ns, "link", "set", f"{self.prefix}v{i}", "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "route", "add", "default", "dev", "eth0")
            _ip("-n", self.hub, "link", "set", f"{self.prefix}p{i}", "master", "br0")
            _ip("-n", self.hub, "link", "set", f"{self.prefix}p{i}", "up")
            self.hosts[name] = Namespace(ns, address)

    def cut(self, name: str) -> None:
        _ip("-n", self.hosts[name].name, "link", "set", "eth0", "down")

    def restore(self, name: str) -> None:
        ns = self.hosts[name].name
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "route", "replace", "default", "dev", "eth0")

    def destroy(self) -> None:
        for ns in [*(h.name for h in self.hosts.values()), self.hub]:
            subprocess.run(["ip", "netns", "pids", ns], capture_output=True)
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def netns_available() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


class Cli:
    """Runs `renderq` verbs against one controller, as a script would."""

    def __init__(
        self,
        controller: str,
        data_dir: Path | None = None,
        wrap: Callable[[list[str]], list[str]] = lambda a: a,
    ) -> None:
        self.controller = controller
        self.data_dir = data_dir
        """The controller's data directory: verbs use the admin token it writes there."""
        self.wrap = wrap

    def run(
        self, verb: str, *args: str, timeout: float = DEADLINE, check: bool = True, as_json: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """``renderq VERB --controller ADDR [--json] ARGS`` (options first: ARGS may hold ``--``).
        A verb of two words (``token create``) takes the options after both."""
        options = ["--controller", self.controller, *(["--json"] if as_json else [])]
        argv = self.wrap(renderq_argv(*verb.split(), *options, *args))
        env = {**os.environ, **self.token_env()}
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        if check and result.returncode != 0:
            raise AssertionError(
                f"renderq {verb} {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def token_env(self) -> dict[str, str]:
        """``RENDERQ_TOKEN``: the controller's local admin token, for verbs run as processes."""
        token = tokens.read_local(self.data_dir) if self.data_dir else None
        return {"RENDERQ_TOKEN": token} if token else {}

    def json(self, verb: str, *args: str, timeout: float = DEADLINE) -> Any:
        return json.loads(self.run(verb, *args, timeout=timeout, as_json=True).stdout)
