"""A task's main process as the agent starts it: its output read to the end, its exit code
as ``subprocess`` says it, its exit known even while a leftover holds its pipe, a group of
its own, and nothing left open when its program does not exist."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from renderq.agent import child_process
from renderq.agent.child_process import ChildProcess, start_child

DEADLINE = 20.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shells and signals")


@pytest.fixture(params=["pidfd", "asyncio transport"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test both ways the agent has: Linux's pidfd, and asyncio's transport (other
    systems, and Linux where a sandbox refuses pidfds)."""
    if request.param == "pidfd":
        assert child_process.pidfds_work(), "this Linux gives no pidfds: the agent's usual way is untested"
    else:
        monkeypatch.setattr(child_process, "pidfds_work", lambda: False)
    return str(request.param)


async def start(script: str, tmp_path: Path) -> ChildProcess:
    return await start_child(["sh", "-c", script], tmp_path, dict(os.environ), None)


async def read_all(child: ChildProcess) -> bytes:
    out = b""
    async with asyncio.timeout(DEADLINE):
        while data := await child.read(4096):
            out += data
    return out


async def exited(child: ChildProcess, what: str) -> None:
    try:
        async with asyncio.timeout(DEADLINE):
            await child.exited.wait()
    except TimeoutError:
        pytest.fail(f"the process did not exit within {DEADLINE} s: {what}")


@pytest.mark.usefixtures("way")
async def test_output_is_read_to_its_end_and_the_exit_code_kept(tmp_path: Path) -> None:
    child = await start("echo out; echo err >&2; exit 3", tmp_path)
    assert await read_all(child) == b"out\nerr\n"
    await exited(child, "it exits at once with code 3")
    assert child.returncode == 3
    assert await child.read(4096) == b"", "the end of the output stays the end"


@pytest.mark.usefixtures("way")
async def test_a_process_killed_by_a_signal_has_its_negative_number(tmp_path: Path) -> None:
    child = await start("kill -TERM $$", tmp_path)
    await exited(child, "it kills itself")
    assert child.returncode == -signal.SIGTERM


@pytest.mark.usefixtures("way")
async def test_the_exit_is_known_while_a_leftover_holds_the_pipe(tmp_path: Path) -> None:
    child = await start("sleep 60 & echo started; exit 0", tmp_path)
    try:
        async with asyncio.timeout(DEADLINE):
            assert await child.read(4096) == b"started\n"
        reading = asyncio.create_task(child.read(4096))
        await exited(child, "the shell exits while its sleep holds stdout")
        assert child.returncode == 0
        assert not reading.done(), "the sleep still holds the pipe"
        child.close_output()
        async with asyncio.timeout(DEADLINE):
            assert await reading == b"", "a read under way ends with the output closed"
    finally:
        os.killpg(child.pid, signal.SIGKILL)


@pytest.mark.usefixtures("way")
async def test_the_process_leads_a_group_of_its_own(tmp_path: Path) -> None:
    child = await start("exec sleep 60", tmp_path)
    try:
        assert os.getpgid(child.pid) == child.pid
        assert os.getsid(child.pid) == child.pid
    finally:
        os.killpg(child.pid, signal.SIGKILL)
    await exited(child, "it was killed")
    assert child.returncode == -signal.SIGKILL


@pytest.mark.usefixtures("way")
async def test_a_missing_program_raises_and_leaves_nothing_open(tmp_path: Path) -> None:
    before = set(os.listdir("/proc/self/fd")) if sys.platform == "linux" else set()
    with pytest.raises(FileNotFoundError):
        await start_child([str(tmp_path / "no-such-renderer")], tmp_path, dict(os.environ), None)
    if sys.platform == "linux":
        assert set(os.listdir("/proc/self/fd")) <= before, "no pipe of the failed start stays open"


async def test_a_process_that_cannot_be_watched_is_killed_not_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of file descriptors just after the start (the pidfd way): the process is ended and
    reaped, and the start fails as a start that could not happen."""
    assert child_process.pidfds_work(), "this Linux gives no pidfds: the agent's usual way is untested"
    started: list[int] = []

    def no_pidfd(pid: int, flags: int = 0) -> int:
        started.append(pid)
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(child_process.os, "pidfd_open", no_pidfd)
    with pytest.raises(OSError, match="Too many open files"):
        await start("sleep 60", tmp_path)
    (pid,) = started
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped: not even a zombie is left


@pytest.mark.usefixtures("way")
async def test_the_process_starts_in_its_folder_with_nothing_but_its_three_streams(tmp_path: Path) -> None:
    """Its working folder, stdin at its end, no descriptor of the agent's but the pipe, and
    SIGPIPE and SIGXFSZ (which Python ignores) back to their default."""
    # Its descriptors are listed from outside once it waits: a listing by the shell would
    # see the pipes and saved descriptors the shell holds for a moment around a command.
    child = await start("pwd; cat; grep SigIgn /proc/$$/status; exec sleep 60", tmp_path)
    try:
        out = b""
        async with asyncio.timeout(DEADLINE):
            while out.count(b"\n") < 2:
                out += await child.read(4096)
        folder, ignored = out.decode().splitlines()
        assert folder == str(tmp_path)
        assert sorted(os.listdir(f"/proc/{child.pid}/fd")) == ["0", "1", "2"]
        mask = int(ignored.split()[1], 16)
        assert not mask & (1 << (signal.SIGPIPE - 1) | 1 << (signal.SIGXFSZ - 1)), ignored
    finally:
        os.killpg(child.pid, signal.SIGKILL)
    await exited(child, "it was killed")


@pytest.mark.usefixtures("way")
async def test_the_program_is_looked_up_on_the_path_of_the_tasks_environment(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "renderer").write_text("#!/bin/sh\necho the jobs own renderer\n")
    (tools / "renderer").chmod(0o755)
    (tools / "locked").write_text("#!/bin/sh\necho never\n")
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    child = await start_child(["renderer"], tmp_path, env, None)
    assert await read_all(child) == b"the jobs own renderer\n"
    await exited(child, "the renderer prints and exits")
    with pytest.raises(FileNotFoundError):
        await start_child(["renderer"], tmp_path, dict(os.environ), None)
    with pytest.raises(PermissionError):
        await start_child([str(tools / "locked")], tmp_path, env, None)


async def test_a_flag_wakes_the_futures_of_its_waiters_once_set() -> None:
    """The runner waits for the first of two flags (the exit, a cancel) with one future."""
    loop = asyncio.get_running_loop()
    flag = child_process.Flag()
    early, forgotten = loop.create_future(), loop.create_future()
    flag.wake(early)
    flag.wake(forgotten)
    flag.forget(forgotten)
    assert not early.done()
    flag.set()
    assert early.done() and not forgotten.done()
    late = loop.create_future()
    flag.wake(late)
    assert late.done(), "a flag already set wakes at once"
    async with asyncio.timeout(DEADLINE):
        await flag.wait()
