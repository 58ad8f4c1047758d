"""A task the kernel's OOM killer ended is reported as out of memory, with its peak; a
SIGKILL from anyone else, a cancel or an ordinary failure never is.

The agent tells an OOM kill by a SIGKILL it did not send while the kernel's count of
OOM kills rose. Most tests here give it a counter file of their own (a stand-in for
``/proc/vmstat``) that the task raises before it kills itself with a real SIGKILL; one
runs a task in a memory cgroup of its own and lets the kernel kill it for real.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from renderq.agent import out_of_memory
from renderq.agent import server as server_module
from renderq.agent.out_of_memory import Counter, OomWatch, linux_counter, out_of_memory_message
from renderq.agent.process_tree import died_of_sigkill
from renderq.agent.server import AgentServer
from renderq.client.units import format_size
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2
from tests.agent.conftest import IN_CI, FakeController, agent_config, shell, task
from tests.waiting import eventually

MESSAGE = re.compile(r"killed by the kernel for lack of memory( \(peak (?P<peak>.+)\))?")

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="the kernel's OOM kill counts are Linux's")


def assert_out_of_memory(finished: apb.TaskFinished) -> None:
    """Reported as an OOM kill, the peak in its words whenever one was measured."""
    assert finished.out_of_memory, finished.error_message
    assert not finished.cancelled
    match = MESSAGE.fullmatch(finished.error_message)
    assert match, finished.error_message
    peak = match.group("peak")
    assert peak == (format_size(finished.peak_rss_bytes) if finished.peak_rss_bytes else None)
    assert list(finished.failed_frames) == [1]


# The counters and how they are found.


def test_a_counter_reads_the_oom_kill_line(tmp_path: Path) -> None:
    events = tmp_path / "memory.events"
    events.write_text("low 0\nhigh 3\nmax 9\noom 2\noom_kill 2\noom_group_kill 0\n")
    assert Counter(events).read() == 2
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("nr_free_pages 1000\noom_kill 17\nnr_unstable 0\n")
    assert Counter(vmstat).read() == 17


def test_a_counter_without_the_line_or_the_file_reads_nothing(tmp_path: Path) -> None:
    old = tmp_path / "vmstat"
    old.write_text("nr_free_pages 1000\n")
    assert Counter(old).read() is None
    assert Counter(tmp_path / "missing").read() is None
    assert OomWatch(None).read() is None
    assert not OomWatch(None).claim(0)


def test_one_kill_explains_one_death(tmp_path: Path) -> None:
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("oom_kill 4\n")
    watch = OomWatch(Counter(vmstat))
    first, second = watch.read(), watch.read()
    assert not watch.claim(first), "the count did not move"
    vmstat.write_text("oom_kill 5\n")
    assert watch.claim(first)
    assert not watch.claim(second), "the one kill already explains the first task's death"
    vmstat.write_text("oom_kill 6\n")
    assert watch.claim(second)
    assert not watch.claim(None), "no count before the start: never claimed"


def test_the_count_before_a_command_is_read_at_most_once_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("oom_kill 4\n")
    watch = OomWatch(Counter(vmstat))
    assert watch.read() == 4
    vmstat.write_text("oom_kill 5\n")
    assert watch.read() == 4, "the reading of a moment ago serves the next command's start"
    assert watch.claim(4), "a death is always weighed against the count as it is now"
    monkeypatch.setattr(out_of_memory, "BEFORE_FRESH", 0.0)
    assert watch.read() == 5


@dataclass
class FakeProc:
    """A stand-in for /proc/self/cgroup, /proc/self/mountinfo and the cgroup file systems."""

    root: Path

    def write(self, cgroup: str, mounts: list[tuple[str, str, str]]) -> None:
        (self.root / "cgroup").write_text(cgroup)
        lines = [
            f"{30 + i} 1 0:{26 + i} {root} {self.root / point} rw,nosuid - {kind} {kind} rw"
            for i, (root, point, kind) in enumerate(mounts)
        ]
        (self.root / "mountinfo").write_text("\n".join(lines) + "\n")

    def events(self, *parts: str) -> Path:
        folder = self.root.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "memory.events").write_text("low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n")
        return folder / "memory.events"


@pytest.fixture
def fake_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProc:
    monkeypatch.setattr(out_of_memory, "OWN_CGROUP", tmp_path / "cgroup")
    monkeypatch.setattr(out_of_memory, "MOUNTS", tmp_path / "mountinfo")
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("oom_kill 0\n")
    monkeypatch.setattr(out_of_memory, "VMSTAT", vmstat)
    return FakeProc(tmp_path)


def test_the_agents_own_cgroup_v2_counts_its_tasks_kills(fake_proc: FakeProc) -> None:
    events = fake_proc.events("fs", "cgroup", "system.slice", "renderq-agent.service")
    fake_proc.write("0::/system.slice/renderq-agent.service\n", [("/", "fs/cgroup", "cgroup2")])
    assert linux_counter() == Counter(events)


def test_in_a_cgroup_namespace_the_mount_is_the_agents_cgroup(fake_proc: FakeProc) -> None:
    events = fake_proc.events("fs", "cgroup")
    fake_proc.write("0::/\n", [("/", "fs/cgroup", "cgroup2")])
    assert linux_counter() == Counter(events)


def test_a_mount_of_part_of_the_tree_is_followed(fake_proc: FakeProc) -> None:
    events = fake_proc.events("fs", "cgroup", "task")
    fake_proc.write("0::/docker/abc/task\n", [("/docker/abc", "fs/cgroup", "cgroup2")])
    assert linux_counter() == Counter(events)


def test_without_a_memory_controller_in_cgroup_v2_the_machines_count_is_read(fake_proc: FakeProc) -> None:
    # As on this project's CI: cgroup v1 for memory, cgroup2 mounted beside it without it.
    (fake_proc.root / "fs" / "unified").mkdir(parents=True)
    fake_proc.write(
        "4:memory:/machine/abc\n0::/\n",
        [("/", "fs/memory", "cgroup"), ("/", "fs/unified", "cgroup2")],
    )
    assert linux_counter() == Counter(out_of_memory.VMSTAT)


def test_without_any_count_no_counter(fake_proc: FakeProc) -> None:
    fake_proc.write("0::/\n", [])
    out_of_memory.VMSTAT.write_text("nr_free_pages 3\n")
    assert linux_counter() is None


def test_the_words_give_the_peak_when_it_was_measured() -> None:
    assert out_of_memory_message(int(41.2 * 2**30)) == "killed by the kernel for lack of memory (peak 41 GiB)"
    assert out_of_memory_message(int(2.5 * 2**30)) == "killed by the kernel for lack of memory (peak 2.5 GiB)"
    assert out_of_memory_message(0) == "killed by the kernel for lack of memory"


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGKILL on Windows")
def test_only_a_sigkill_can_be_the_kernels() -> None:
    assert died_of_sigkill(-signal.SIGKILL)
    assert died_of_sigkill(128 + signal.SIGKILL), "a shell whose command was killed exits 137"
    assert not died_of_sigkill(-signal.SIGTERM)
    assert not died_of_sigkill(1)
    assert not died_of_sigkill(0)


# A real agent with a counter of the test's own.

BUMP_THEN = 'echo "oom_kill $(( $(cut -d" " -f2 "$1") + 1 ))" > "$1"; '
"""Raise the stand-in counter, as the kernel does before it sends its SIGKILL."""


@pytest.fixture
async def counted(
    tmp_path: Path, hardware: resources_pb2.Hardware, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FakeController, Path]]:
    """A link to an agent whose count of OOM kills is a file of the test's (and the file)."""
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("oom_kill 41\n")
    monkeypatch.setattr(out_of_memory, "OWN_CGROUP", tmp_path / "no-cgroup")
    monkeypatch.setattr(out_of_memory, "VMSTAT", vmstat)

    async def probed(config: object = None) -> resources_pb2.Hardware:
        return hardware

    monkeypatch.setattr(server_module, "probe_hardware", probed)
    server = AgentServer(agent_config(tmp_path))
    await server.start()
    controller = FakeController(server.port)
    try:
        await controller.connect()
        yield controller, vmstat
    finally:
        await controller.close()
        await server.stop()


@linux_only
async def test_a_sigkill_while_the_kernel_counted_a_kill_is_out_of_memory(
    counted: tuple[FakeController, Path],
) -> None:
    controller, vmstat = counted
    # It holds 64 MiB for a second first, so that the agent measures a peak.
    hold = "import time; held = bytearray(b'x') * (64 << 20); time.sleep(1)"
    script = f'"$2" -c "{hold}"; ' + BUMP_THEN + "kill -9 $$"
    await controller.assign(task(601, shell(script, str(vmstat), sys.executable)))
    finished = await controller.finished(601)

    assert_out_of_memory(finished)
    assert finished.exit_code == -signal.SIGKILL
    assert finished.peak_rss_bytes > 0


@linux_only
async def test_a_shell_whose_command_the_kernel_killed_is_out_of_memory(
    counted: tuple[FakeController, Path],
) -> None:
    controller, vmstat = counted
    # The shell outlives its command and exits 128 + 9, as `sh -c 'renderer; ...'` does.
    script = "sh -c '" + BUMP_THEN + 'kill -9 $$\' sh "$1"; exit $?'
    await controller.assign(task(602, shell(script, str(vmstat))))
    finished = await controller.finished(602)

    assert_out_of_memory(finished)
    assert finished.exit_code == 128 + signal.SIGKILL


@linux_only
async def test_a_sigkill_from_someone_else_is_no_lack_of_memory(counted: tuple[FakeController, Path]) -> None:
    controller, _ = counted
    await controller.assign(task(603, shell("kill -9 $$")))
    finished = await controller.finished(603)

    assert not finished.out_of_memory
    assert finished.error_message == "killed by signal 9 (SIGKILL)"


@linux_only
async def test_an_ordinary_failure_while_the_kernel_counted_a_kill_is_no_lack_of_memory(
    counted: tuple[FakeController, Path],
) -> None:
    controller, vmstat = counted
    await controller.assign(task(604, shell(BUMP_THEN + "echo broken; exit 1", str(vmstat))))
    finished = await controller.finished(604)

    assert not finished.out_of_memory
    assert finished.error_message == "exited with code 1: broken"


@linux_only
async def test_a_cancelled_task_is_no_lack_of_memory(
    counted: tuple[FakeController, Path], tmp_path: Path
) -> None:
    controller, vmstat = counted
    script = BUMP_THEN + 'echo counted; trap "" TERM; while :; do sleep 0.05; done'
    await controller.assign(task(605, shell(script, str(vmstat))))
    await controller.log_text_until(605, "counted")
    await controller.cancel(605, "by the test")
    finished = await controller.finished(605)

    assert finished.cancelled
    assert not finished.out_of_memory
    assert finished.error_message == "cancelled: by the test"


@linux_only
async def test_two_deaths_and_one_kill_make_one_out_of_memory(
    counted: tuple[FakeController, Path], tmp_path: Path
) -> None:
    controller, vmstat = counted
    go = tmp_path / "go"
    waiting = 'echo waiting; while [ ! -e "$1" ]; do sleep 0.05; done; kill -9 $$'
    await controller.assign(task(606, shell(waiting, str(go))))
    await controller.log_text_until(606, "waiting")
    # Both tasks run while the count rises by one, and both die of SIGKILL.
    await controller.assign(task(607, shell(BUMP_THEN + "kill -9 $$", str(vmstat))))
    assert (await controller.finished(607)).out_of_memory
    go.touch()
    later = await controller.finished(606)

    assert not later.out_of_memory, "the one kill the kernel counted already explains the other death"
    assert later.error_message == "killed by signal 9 (SIGKILL)"


# The kernel's own OOM killer, in a memory cgroup made for the task.

CAGE_LIMIT = 96 << 20
GREEDY = (
    "import time\n"
    "held = [bytearray(b'x') * (32 << 20)]\n"
    "time.sleep(1)\n"  # measured by the agent before it grows past the limit
    "while True:\n"
    "    held.append(bytearray(b'x') * (4 << 20))\n"
)


@dataclass(frozen=True)
class Cage:
    """A memory cgroup below the test's own, with a limit and no swap."""

    folder: Path

    @property
    def procs(self) -> Path:
        return self.folder / "cgroup.procs"


def _own_cgroup(controller: str) -> str | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path
    return None


def _make_cage() -> tuple[Cage | None, str]:
    """A cage (cgroup v1's memory controller, else cgroup v2's), or why none can be made."""
    name = f"renderq-oom-test-{uuid.uuid4().hex[:8]}"
    v1 = _own_cgroup("memory")
    v2 = _own_cgroup("")
    v2_folder = Path("/sys/fs/cgroup", (v2 or "").lstrip("/"))
    if v1 is not None and Path("/sys/fs/cgroup/memory").is_dir():
        folder = Path("/sys/fs/cgroup/memory", v1.lstrip("/"), name)
        limits = [("memory.limit_in_bytes", CAGE_LIMIT), ("memory.memsw.limit_in_bytes", CAGE_LIMIT)]
    elif v2 is not None and "memory" in _read(v2_folder / "cgroup.subtree_control"):
        # Only where the test runs in the root cgroup: any other with processes may not
        # hand a controller down (cgroup v2's rule of no internal processes).
        folder = v2_folder / name
        limits = [("memory.max", CAGE_LIMIT), ("memory.swap.max", 0)]
    else:
        return None, "no memory cgroup controller that this test may use"
    try:
        folder.mkdir()
    except OSError as exc:
        return None, f"cannot make a memory cgroup at {folder}: {exc.strerror}"
    for file, value in limits:
        with contextlib.suppress(FileNotFoundError):  # no swap accounting: nothing to limit
            (folder / file).write_text(str(value))
    return Cage(folder), ""


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@pytest.fixture
def cage() -> Iterator[Cage]:
    """CI runs as root on a machine with a writable memory cgroup: there a skip would hide
    a broken detection, so a missing one fails."""
    if sys.platform != "linux":
        pytest.skip("memory cgroups are Linux's")
    made, why = _make_cage()
    if made is None:
        if IN_CI:
            pytest.fail(f"CI=true but {why}, which the real out-of-memory test needs")
        pytest.skip(why)
    try:
        yield made
    finally:
        # Empty once the killed task is reaped; the kernel may take a moment to let it go.
        def removed() -> bool:
            try:
                made.folder.rmdir()
            except FileNotFoundError:
                return True
            except OSError:
                return False
            return True

        eventually(f"{made.folder} is removed", removed, timeout=10)


async def test_a_task_the_kernel_kills_for_memory_is_reported_so(
    controller: FakeController, cage: Cage
) -> None:
    # The task moves itself into the cage, then grows until the kernel kills it.
    script = 'echo $$ > "$1" && exec "$2" -c "$3"'
    await controller.assign(task(701, shell(script, str(cage.procs), "{python}", GREEDY)))
    finished = await controller.finished(701)

    assert_out_of_memory(finished)
    assert finished.exit_code == -signal.SIGKILL
    assert finished.peak_rss_bytes >= 32 << 20, "the agent measured the 32 MiB held for a second"
