"""A renderq service run as a child process of ``renderq up``.

The child's output goes to a log file, not the user's terminal: a healthy farm is
quiet. The last lines are kept so that a child that fails can be explained in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from renderq.cli.failures import UserError

TAIL_LINES = 20
DRAIN_SECONDS = 2.0
LINE_LIMIT = 1024 * 1024


class Child:
    """One child process; ``ready`` matches the log line that says it serves, and its
    first group is the address it serves on."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        ready: re.Pattern[str],
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self._env = {**os.environ, **env} if env else None
        """The child's environment: this process's, plus ``env`` (secrets stay off argv)."""
        self.log_path = log_path
        self._argv = list(argv)
        self._ready_pattern = ready
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None
        self._log: IO[bytes] | None = None
        self._address: asyncio.Future[str] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._address = asyncio.get_running_loop().create_future()
        # Its own session: Ctrl-C in the terminal reaches `renderq up` alone, which then
        # stops the children in order instead of all of them dying at once.
        self._process = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=LINE_LIMIT,
            env=self._env,
        )
        self._pump = asyncio.create_task(self._read_output(self._process, self._address))

    async def _read_output(self, process: asyncio.subprocess.Process, address: asyncio.Future[str]) -> None:
        assert process.stderr is not None and self._log is not None
        async for raw in process.stderr:
            self._log.write(raw)
            self._log.flush()
            line = raw.decode(errors="replace").rstrip()
            self._tail.append(line)
            if not address.done() and (match := self._ready_pattern.search(line)):
                address.set_result(match.group(1))

    async def ready(self) -> str:
        """The address from the child's ready line, once it is logged."""
        assert self._process is not None and self._address is not None
        exited = asyncio.ensure_future(self._process.wait())
        waits: set[asyncio.Future[Any]] = {self._address, exited}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if self._address.done():
            return self._address.result()
        raise await self.failure(f"exited with code {self._process.returncode} before it was ready")

    async def exited(self) -> UserError:
        """Wait for the child to end on its own; the error that explains it."""
        assert self._process is not None
        code = await self._process.wait()
        return await self.failure(f"stopped unexpectedly with code {code}")

    async def failure(self, what: str) -> UserError:
        """The error that says what went wrong with the child, with its last lines."""
        if self._process is not None and self._process.returncode is not None:
            await self._drain()
        lines = "\n".join(f"  {line}" for line in self._tail) or "  (nothing)"
        return UserError(f"renderq {self.name} {what}; its last lines ({self.log_path}):\n{lines}")

    async def _drain(self) -> None:
        """Read what the ended child wrote last; a grandchild still holding the pipe
        open must not keep us waiting."""
        if self._pump is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._pump), DRAIN_SECONDS)
            self._pump.cancel()

    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL if it has not ended after ``grace`` seconds."""
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), grace)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        await self._drain()
        if self._log is not None:
            self._log.close()
