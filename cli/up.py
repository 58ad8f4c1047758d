"""``renderq up``: a whole farm on this machine, one command, nothing to configure.

A controller and one agent run as child processes (the same ``renderq controller``
and ``renderq agent`` a real farm runs), so what works here works on a LAN.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from renderq import farm_key, tokens
from renderq.cli.children import Child
from renderq.cli.connection import dial
from renderq.cli.failures import UserError
from renderq.cli.progress import JobProgress, follow_job
from renderq.cli.servers import add_log_level
from renderq.client.address import ENV_VAR
from renderq.client.credentials import DATA_DIR_ENV, Credentials, local_data_dir
from renderq.client.enums import label
from renderq.client.login import login_name
from renderq.client.paging import collect_pages
from renderq.controller.config import DEFAULT_PORT
from renderq.parent_watch import ENV
from renderq.stop_signals import STOP_SIGNALS
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb
from renderq.xdg import data_home

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

CONTROLLER_READY = re.compile(r"renderq controller listening on (\S+)")
AGENT_READY = re.compile(r"renderq agent \S+ listening on (\S+)")
READY_SECONDS = 60.0
"""Generous: a first start creates the database and probes the hardware."""
STOP_GRACE = 10.0

EPILOG = """\
The controller's and the agent's logs go to DATA_DIR/controller.log and DATA_DIR/agent.log.
Stop the farm with Ctrl-C.
"""


def register(verbs: Verbs) -> None:
    parser = verbs.add_parser(
        "up",
        help="run a one-machine farm (controller + agent)",
        description="Run a controller and an agent on this machine and keep them running until Ctrl-C.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--demo", action="store_true", help="submit the demo job and show it render")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="controller port; the agent takes the next (default %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where the farm keeps its state (default: ${DATA_DIR_ENV}, else {data_home()})",
    )
    parser.add_argument("--slots", type=int, default=None, metavar="N", help="tasks the agent runs at once")
    parser.add_argument(
        "--no-tui",
        action="store_true",
        help="print progress instead of opening the terminal UI (the default when not on a terminal)",
    )
    add_log_level(parser)
    parser.set_defaults(run=lambda args: asyncio.run(_up(args)))


class LocalServers:
    """The controller and the agent as children of this process."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        slots: int | None,
        log_level: str,
        command: Sequence[str] = (sys.executable, "-m", "renderq"),
    ) -> None:
        self.data_dir = data_dir
        self._port = port
        self._slots = slots
        self._log_level = log_level
        self._command = list(command)
        self._children: list[Child] = []
        self.join_token = ""

    async def start(self) -> str:
        """Start the agent, then the controller dialling it; the address to dial the controller on."""
        agent_port = self._port + 1 if self._port else 0
        agent_argv = [
            *self._command, "agent",
            "--listen", f"127.0.0.1:{agent_port}",
            "--data-dir", str(self.data_dir / "agent"),
            "--no-mdns",
            "--log-level", self._log_level, "--log-format", "text",
            *(["--slots", str(self._slots)] if self._slots is not None else []),
        ]  # fmt: skip
        # The controller's key, made here so the agent can have it before either starts;
        # it goes by environment, not argv, where any local user could read it.
        key = await asyncio.to_thread(farm_key.load_or_create, self.data_dir / farm_key.FILE_NAME)
        self.join_token = farm_key.to_token(key)
        agent_address = await self._start(
            "agent", agent_argv, AGENT_READY, {"RENDERQ_JOIN_TOKEN": self.join_token}
        )
        controller_argv = [
            *self._command, "controller",
            "--listen", f"0.0.0.0:{self._port}",
            "--data-dir", str(self.data_dir),
            "--agent", agent_address,
            "--log-level", self._log_level, "--log-format", "text",
        ]  # fmt: skip
        listening = await self._start("controller", controller_argv, CONTROLLER_READY)
        return f"127.0.0.1:{listening.rsplit(':', 1)[1]}"

    async def _start(
        self, name: str, argv: list[str], ready: re.Pattern[str], env: dict[str, str] | None = None
    ) -> str:
        # Each child stops when this process ends, even by SIGKILL (renderq/parent_watch.py).
        env = {**(env or {}), ENV: str(os.getpid())}
        child = Child(name, argv, self.data_dir / f"{name}.log", ready, env)
        self._children.append(child)
        await child.start()
        try:
            async with asyncio.timeout(READY_SECONDS):
                return await child.ready()
        except TimeoutError:
            raise await child.failure(f"did not say it was listening within {READY_SECONDS:.0f} s") from None

    async def failure(self) -> UserError:
        """Wait until a child ends on its own; the error that says which and why."""
        waits = [asyncio.ensure_future(child.exited()) for child in self._children]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return done.pop().result()

    async def stop(self) -> None:
        """The controller first, so it does not count the agent's exit as a lost node."""
        for child in reversed(self._children):
            await child.stop(STOP_GRACE)


async def _up(args: argparse.Namespace) -> int:
    servers = LocalServers(local_data_dir(args.data_dir), args.port, args.slots, args.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        # Without loop signal handlers (Windows), Ctrl-C cancels this coroutine instead,
        # and the `finally` below still stops the children.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    tui = not args.no_tui and sys.stdin.isatty() and sys.stdout.isatty()
    session = asyncio.create_task(_session(servers, args.demo, tui))
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({session, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        session.cancel()
        await asyncio.gather(session, return_exceptions=True)
        print("renderq: stopping the farm", file=sys.stderr)
        await servers.stop()
    if not session.cancelled():
        session.result()  # the failure that ended the session
    return 0


async def _session(servers: LocalServers, demo: bool, tui: bool) -> None:
    """Start, optionally render the demo, then either run the terminal UI until the
    operator quits it, or serve until a child fails."""
    address = await servers.start()
    print(f"renderq: farm up; controller on {address}, state and logs in {servers.data_dir}")
    credentials = Credentials(token=tokens.read_local(servers.data_dir))
    if tui:
        from renderq.tui.app import RenderqApp

        if demo:
            async with dial(address, credentials) as stub:
                await _submit_demo(stub, servers.data_dir)

        async def controller() -> str:
            return address

        await RenderqApp(controller, credentials).run_async()
        return
    if demo:
        async with dial(address, credentials) as stub:
            await _follow_demo(stub, await _submit_demo(stub, servers.data_dir))
    env = f"{ENV_VAR}={address}"
    if servers.data_dir != local_data_dir():
        # Where verbs find the local admin token.
        env += f" {DATA_DIR_ENV}={servers.data_dir}"
    print(
        f"\nUse it from another terminal:\n"
        f"  {env} renderq jobs\n"
        f"  {env} renderq agents\n"
        f"  {env} renderq tui\n"
        f"\nAdd a render node on this LAN: run this line on it (it holds the farm key; keep it private):\n"
        f"  renderq agent --join {servers.join_token}\n"
        f"\nPress Ctrl-C to stop the farm.",
        flush=True,
    )
    raise await servers.failure()


async def _submit_demo(stub: FarmServiceAsyncStub, data_dir: Path) -> pb.Job:
    from renderq.demo.job import demo_job
    from renderq.demo.scene import DemoSceneError, ensure_demo_scene

    scene = None
    if shutil.which("blender"):
        try:
            scene = await asyncio.to_thread(ensure_demo_scene, data_dir / "demo")
        except DemoSceneError as error:
            raise UserError(str(error)) from None
    job = demo_job(scene)
    job.owner = login_name()
    job = (await stub.CreateJob(fpb.CreateJobRequest(job=job))).job
    print(f"renderq: submitted the demo job {job.id} ({job.frame_count} frames)", flush=True)
    return job


async def _follow_demo(stub: FarmServiceAsyncStub, job: pb.Job) -> None:
    progress = JobProgress(sys.stdout)
    try:
        job = await follow_job(stub, job.id, progress.update)
    finally:
        progress.close()
    if job.state != pb.JOB_STATE_COMPLETED:
        print(
            f"renderq: the demo job {label(pb.JobState, job.state)}: {job.last_error or 'no error reported'}"
        )
        print(f"  see its log with: renderq logs {job.id}")
        return
    frames = await collect_pages(
        lambda token: stub.ListFrames(fpb.ListFramesRequest(job_id=job.id, page_token=token)),
        lambda r: r.frames,
    )
    folders = Counter(str(Path(output.path).parent) for frame in frames for output in frame.outputs)
    print("renderq: the demo job completed; its frames are in:")
    for folder, count in sorted(folders.items()):
        print(f"  {folder}  ({count} files)")
