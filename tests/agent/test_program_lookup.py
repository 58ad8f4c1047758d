"""A task's program is looked up on its PATH by the agent, and the answer kept a second:
the program keeps its name as ``argv[0]``, and one gone since is looked for again."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from renderq.agent import program_lookup
from renderq.agent.child_process import ChildProcess, start_child
from renderq.agent.program_lookup import program_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shells")
DEADLINE = 20.0


async def output(child: ChildProcess) -> bytes:
    out = b""
    async with asyncio.timeout(DEADLINE):
        while data := await child.read(4096):
            out += data
        await child.exited.wait()
    return out


def renderer(folder: Path, says: str) -> Path:
    folder.mkdir(exist_ok=True)
    script = folder / "renderer"
    script.write_text(f"#!/bin/sh\necho {says}\n")
    script.chmod(0o755)
    return script


async def test_the_program_keeps_the_name_it_was_given(tmp_path: Path) -> None:
    argv = ["sh", "-c", "tr '\\0' ' ' < /proc/$$/cmdline"]
    child = await start_child(argv, tmp_path, dict(os.environ), None)
    assert (await output(child)).split()[0] == b"sh"


async def test_a_program_gone_within_the_second_is_looked_for_again(tmp_path: Path) -> None:
    first = renderer(tmp_path / "first", "first")
    renderer(tmp_path / "second", "second")
    env = {**os.environ, "PATH": f"{tmp_path / 'first'}{os.pathsep}{tmp_path / 'second'}"}
    assert await output(await start_child(["renderer"], tmp_path, env, None)) == b"first\n"
    first.unlink()
    assert await output(await start_child(["renderer"], tmp_path, env, None)) == b"second\n"


async def test_a_program_installed_later_is_found_once_the_lookup_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renderer(tmp_path / "second", "second")
    env = {**os.environ, "PATH": f"{tmp_path / 'first'}{os.pathsep}{tmp_path / 'second'}"}
    assert await output(await start_child(["renderer"], tmp_path, env, None)) == b"second\n"
    renderer(tmp_path / "first", "first")
    monkeypatch.setattr(program_lookup, "FRESH", 0.0)
    assert await output(await start_child(["renderer"], tmp_path, env, None)) == b"first\n"


def test_a_path_with_a_relative_folder_is_left_to_the_child(tmp_path: Path) -> None:
    """A relative folder (or an empty one) means the task's working folder, not the agent's."""
    assert program_path("sh", {"PATH": f"bin{os.pathsep}/usr/bin{os.pathsep}/bin"}) is None
    assert program_path("sh", {"PATH": f"{os.pathsep}/usr/bin{os.pathsep}/bin"}) is None
    assert program_path("sh", {"PATH": f"/usr/bin{os.pathsep}/bin"}) is not None
    assert program_path("./sh", {"PATH": "/usr/bin"}) is None
