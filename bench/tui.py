"""TUI benchmark: how far the screen falls behind a flood of farm events, and its CPU.

A fake FarmService (this file with ``--serve``, a separate process so its work is not
counted as the TUI's) lists 1,000 jobs of 1,000 frames and 20 agents, then floods
``WatchEventBatches`` at 10,000 events a second for 10 s: a frame completes and then its
job's counts change, round-robin over every job, each event stamped with the time it
was sent. The real ``RenderqApp`` runs headless (``App.run_test``) against it and
reports:

1. render delay: per job event, from its send time to the screen refresh that follows
   the jobs table's update of that row (``JobsTable.show`` wrapped, then
   ``call_after_refresh``); p50, p99 and max;
2. TUI CPU: the app process's CPU time over the flood, as a share of one core;
3. key latency: every 0.25 s during the flood a key (``j``, ``k``, ``s``) is sent
   as the terminal would send it; from the key to the screen refresh after its action.

``--direct`` hands the same events to the app's view in its own process instead, as the
feed does with what it receives: what the TUI costs without gRPC.

Usage: python bench/tui.py [--rate 10000] [--seconds 10] [--jobs 1000] [--frames 1000]
                           [--size 160x48] [--profile] [--direct]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import pstats
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import grpc
import psutil
from google.protobuf import timestamp_pb2

from renderq.client.credentials import Credentials
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

SETTLE = 1.0
"""Seconds the fake waits after the watch starts before flooding (the listing drawn)."""
KEY_EVERY = 0.25
DEADLINE = 60.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# The fake controller (its own process) --------------------------------------------


def canned_job(job_id: int, frames: int) -> pb.Job:
    start = timestamp_pb2.Timestamp()
    start.FromSeconds(int(time.time()) - 600)
    return pb.Job(
        id=job_id,
        name=f"shot{job_id:04d}_render",
        owner=("ana", "bruno", "chen", "dora")[job_id % 4],
        plugin="blender",
        frames=f"1-{frames}",
        priority=50,
        state=pb.JOB_STATE_RUNNING,
        frame_count=frames,
        start_time=start,
    )


class FloodFarm(fgrpc.FarmServiceServicer):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.jobs = [canned_job(i, args.frames) for i in range(1, args.jobs + 1)]
        self.agents = [
            pb.Agent(
                id=f"render-{i:02d}",
                status=pb.AGENT_STATUS_ONLINE,
                mode=pb.AGENT_MODE_ENABLED,
                slots=4,
                hardware=pb.Hardware(
                    hostname=f"render-{i:02d}", cpu_cores=32, ram_bytes=128 << 30, os="Linux"
                ),
            )
            for i in range(1, 21)
        ]

    async def GetCaller(self, request: Any, context: Any) -> fpb.GetCallerResponse:
        return fpb.GetCallerResponse(name="bench", role=pb.ROLE_ADMIN)

    async def ListJobs(self, request: fpb.ListJobsRequest, context: Any) -> fpb.ListJobsResponse:
        start = int(request.page_token or 0)
        size = request.page_size or 100
        page = self.jobs[start : start + size]
        more = start + size < len(self.jobs)
        return fpb.ListJobsResponse(
            jobs=page, next_page_token=str(start + size) if more else "", event_sequence=1
        )

    async def ListAgents(self, request: Any, context: Any) -> fpb.ListAgentsResponse:
        return fpb.ListAgentsResponse(agents=self.agents, event_sequence=1)

    async def WatchEventBatches(self, request: Any, context: Any) -> Any:
        """``rate`` events a second for ``seconds``, then quiet until the app hangs up; the
        events of each burst in one message, as the controller sends a commit's events."""
        await asyncio.sleep(SETTLE)
        cpu0 = time.process_time()
        t0 = time.monotonic()
        sent = 0
        async for burst in flood(self.jobs, self.args):
            yield fpb.WatchEventBatchesResponse(events=burst)
            sent += len(burst)
        elapsed = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        print(f"flood done sent={sent} seconds={elapsed:.3f} cpu={cpu:.3f}", flush=True)
        await asyncio.Event().wait()


UPSERTED = fpb.CHANGE_TYPE_UPSERTED


async def flood(jobs: list[pb.Job], args: argparse.Namespace) -> AsyncIterator[list[fpb.WatchEventsResponse]]:
    """The events, paced at ``rate`` a second in bursts every few ms: a frame completes,
    then its job's counts change, round-robin over the jobs; each stamped with the time
    it is handed out."""
    done = [0] * len(jobs)
    sequence = 1
    sent = 0
    total = int(args.rate * args.seconds)
    t0 = time.monotonic()
    while sent < total:
        due = min(total, int((time.monotonic() - t0) * args.rate) + 1)
        burst: list[fpb.WatchEventsResponse] = []
        while sent < due:
            index = (sent // 2) % len(jobs)
            job = jobs[index]
            now = timestamp_pb2.Timestamp()
            now.GetCurrentTime()
            sequence += 1
            if sent % 2 == 0:
                done[index] = min(args.frames, done[index] + 1)
                frame = pb.Frame(job_id=job.id, number=done[index], state=pb.FRAME_STATE_COMPLETED)
                burst.append(
                    fpb.WatchEventsResponse(
                        sequence=sequence, time=now, change=fpb.CHANGE_TYPE_UPSERTED, frame=frame
                    )
                )
            else:
                job.frames_completed = done[index]
                job.frames_running = 1
                job.progress = done[index] / args.frames
                # (The constructor copies the job: later changes do not reach this event.)
                burst.append(
                    fpb.WatchEventsResponse(
                        sequence=sequence, time=now, change=fpb.CHANGE_TYPE_UPSERTED, job=job
                    )
                )
            sent += 1
        if burst:
            yield burst
        await asyncio.sleep(0.002)


async def serve(args: argparse.Namespace) -> None:
    server = grpc.aio.server(options=[("grpc.max_send_message_length", 64 << 20)])
    fgrpc.add_FarmServiceServicer_to_server(FloodFarm(args), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"listening on {port}", flush=True)
    await server.wait_for_termination()


# The TUI under measurement ----------------------------------------------------------


class Fake:
    """The fake's process: its port, and the line it prints when the flood is over."""

    def __init__(self, args: argparse.Namespace) -> None:
        argv = [sys.executable, __file__, "--serve", *_pass_on(args)]
        self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.popen.stdout is not None
        first = self.popen.stdout.readline()
        if not first.startswith("listening on "):
            raise SystemExit(f"the fake FarmService did not start: {first!r}")
        self.port = int(first.split()[-1])
        self.done: dict[str, float] = {}
        self.direct = args.direct
        self.served = threading.Event()
        """The fake's flood is over (with ``--direct``: it sent nothing)."""
        self.flooded = threading.Event()
        """The flood the app is measured on is over."""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if line.startswith("flood done"):
                self.done = {k: float(v) for k, v in (w.split("=") for w in line.split()[2:])}
                self.served.set()
                if not self.direct:
                    self.flooded.set()

    async def flooded_async(self) -> None:
        """Until the fake's own flood is over (at once with ``--direct``, after SETTLE)."""
        if not await asyncio.to_thread(self.served.wait, DEADLINE):
            raise SystemExit("the fake FarmService never opened its watch")

    def stop(self) -> None:
        self.popen.terminate()
        self.popen.wait(10)


def _pass_on(args: argparse.Namespace) -> list[str]:
    return [
        f"--rate={args.rate}",
        f"--seconds={0 if args.direct else args.seconds}",
        f"--jobs={args.jobs}",
        f"--frames={args.frames}",
    ]


async def measure(args: argparse.Namespace, fake: Fake) -> dict[str, Any]:
    from textual import events

    from renderq.tui.app import RenderqApp
    from renderq.tui.jobs_table import JobsTable

    async def address() -> str:
        return f"127.0.0.1:{fake.port}"

    app = RenderqApp(address, Credentials(token="bench"))
    width, height = (int(n) for n in args.size.split("x"))

    waiting: dict[int, list[float]] = defaultdict(list)
    """Job id -> send times of its events applied to the view, not yet on screen."""
    delays: list[tuple[float, float]] = []
    """(send time, delay until on screen) of each job event."""
    key_delays: list[float] = []
    counts = {"job_events": 0, "events": 0}

    async with app.run_test(headless=True, size=(width, height)) as pilot:
        table = app.query_one(JobsTable)
        view = app.view
        apply = view.apply

        def timed_apply(event: fpb.WatchEventsResponse, now: float | None = None) -> None:
            apply(event, now)
            counts["events"] += 1
            if event.WhichOneof("resource") == "job":
                counts["job_events"] += 1
                waiting[event.job.id].append(event.time.seconds + event.time.nanos / 1e9)

        view.apply = timed_apply  # type: ignore[method-assign]
        show = table.show

        def timed_show(changes: Any) -> None:
            show(changes)
            ids = list(waiting) if changes.everything else [i for i in changes.jobs if i in waiting]
            batch = list(itertools.chain.from_iterable(waiting.pop(i) for i in ids))
            if batch:
                table.call_after_refresh(lambda: delays.extend((t, time.time() - t) for t in batch))

        table.show = timed_show  # type: ignore[method-assign]

        sent_at: list[float] = []

        def after_key(action: Any) -> Any:
            def run(*a: Any) -> Any:
                result = action(*a)
                started = sent_at.pop() if sent_at else None
                if started is not None:
                    table.call_after_refresh(lambda: key_delays.append(time.monotonic() - started))
                return result

            return run

        for name in ("action_cursor_down", "action_cursor_up", "action_cycle_sort"):
            setattr(table, name, after_key(getattr(table, name)))

        end = time.monotonic() + DEADLINE
        while table.row_count < args.jobs or not app.status.connected:
            if time.monotonic() > end:
                raise SystemExit(f"the app never showed {args.jobs} jobs (it shows {table.row_count})")
            await pilot.pause(0.05)

        if args.direct:
            local = asyncio.create_task(direct_flood(view, args, fake))
        # The flood starts SETTLE seconds after the watch; wait for its first event.
        while counts["events"] == 0:
            if time.monotonic() > end:
                raise SystemExit("no event arrived from the fake FarmService")
            await asyncio.sleep(0.005)
        me = psutil.Process()
        cpu0 = me.cpu_times()
        thread0 = time.thread_time()
        wall0 = time.monotonic()
        profile = cProfile.Profile() if args.profile else None
        if profile is not None:
            profile.enable()

        driver = app._driver
        assert driver is not None
        keys = itertools.cycle(["j", "j", "k", "s"])
        while not fake.flooded.is_set():
            if time.monotonic() > wall0 + args.seconds + DEADLINE:
                raise SystemExit("the fake never finished its flood")
            await asyncio.sleep(KEY_EVERY)
            if sent_at:
                continue  # the last key has not been handled yet: count it once
            key = next(keys)
            sent_at.append(time.monotonic())
            driver.send_message(events.Key(key, key))

        if args.direct:
            await local
        sent = int(fake.done["sent"])
        while counts["events"] < sent or waiting:
            if time.monotonic() > wall0 + args.seconds + DEADLINE:
                raise SystemExit(
                    f"the app applied {counts['events']} of {sent} events; "
                    f"{sum(map(len, waiting.values()))} job events never reached the screen"
                )
            await asyncio.sleep(0.01)
        await pilot.pause()
        wall = time.monotonic() - wall0
        cpu1 = me.cpu_times()
        loop_cpu = time.thread_time() - thread0
        if profile is not None:
            profile.disable()
        fake_cpu = fake.done["cpu"]
        flood_seconds = fake.done["seconds"]

    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return {
        "delays": delays,
        "key_delays": key_delays,
        "cpu": cpu,
        "loop_cpu": loop_cpu,
        "wall": wall,
        "sent": sent,
        "flood_seconds": flood_seconds,
        "fake_cpu": fake_cpu,
        "job_events": counts["job_events"],
        "profile": profile,
    }


async def direct_flood(view: Any, args: argparse.Namespace, fake: Fake) -> None:
    """``--direct``: the same events handed to the app's view in its own process, as the
    feed would, without gRPC; what the TUI costs by itself."""
    await fake.flooded_async()  # the fake's own (empty) flood: the watch is open
    jobs = [canned_job(i, args.frames) for i in range(1, args.jobs + 1)]
    t0 = time.monotonic()
    sent = 0
    async for burst in flood(jobs, args):
        for event in burst:
            view.apply(event)
        sent += len(burst)
    fake.done = {"sent": sent, "seconds": time.monotonic() - t0, "cpu": 0.0}
    fake.flooded.set()


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    keys = r["key_delays"]
    delays = [d for _, d in r["delays"]]
    rate = r["sent"] / r["flood_seconds"]
    print(f"events sent: {r['sent']} in {r['flood_seconds']:.2f} s ({rate:,.0f}/s asked {args.rate:,}/s)")
    print(f"job events measured: {len(delays)} of {r['job_events']}")
    print(
        f"render delay: p50 {ms(percentile(delays, 50))}  p99 {ms(percentile(delays, 99))}  "
        f"max {ms(max(delays))}  (target p99 < 250 ms)"
    )
    start = min(t for t, _ in r["delays"])
    windows: dict[int, list[float]] = defaultdict(list)
    for sent_at, delay in r["delays"]:
        windows[int((sent_at - start) // 2)].append(delay)
    trend = "  ".join(f"{2 * w}-{2 * w + 2} s: {ms(percentile(d, 99))}" for w, d in sorted(windows.items()))
    print(f"render delay p99 by when the event was sent (flat: keeping up): {trend}")
    print(
        f"TUI CPU: {r['cpu']:.2f} s over {r['wall']:.2f} s = {100 * r['cpu'] / r['wall']:.0f} % of one core"
        + (
            "; events made in-process (--direct), no gRPC"
            if args.direct
            else f"; fake server {100 * r['fake_cpu'] / r['flood_seconds']:.0f} %"
        )
    )
    print(
        f"TUI event loop thread: {r['loop_cpu']:.2f} s = {100 * r['loop_cpu'] / r['wall']:.0f} % busy "
        f"(the rest of the TUI's CPU is gRPC's own threads)"
    )
    if keys:
        print(
            f"key latency ({len(keys)} keys): p50 {ms(percentile(keys, 50))}  "
            f"p99 {ms(percentile(keys, 99))}  max {ms(max(keys))}"
        )
    else:
        print("key latency: no key was handled during the flood")
    if r["profile"] is not None:
        out = io.StringIO()
        stats = pstats.Stats(r["profile"], stream=out)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=10_000, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the flood")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=1000, help="frames per job")
    parser.add_argument("--size", default="160x48", help="terminal WIDTHxHEIGHT")
    parser.add_argument("--profile", action="store_true", help="cProfile the TUI during the flood")
    parser.add_argument(
        "--direct",
        action="store_true",
        help="hand the events to the app's view in-process, without gRPC: the TUI's own cost",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args))
        return
    fake = Fake(args)
    try:
        results = asyncio.run(measure(args, fake))
    finally:
        fake.stop()
    report(args, results)


if __name__ == "__main__":
    main()
