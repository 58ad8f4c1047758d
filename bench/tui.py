"""TUI benchmark: how far the screen falls behind a flood of farm events, its CPU, its keys.

A fake FarmService (bench/tui_fake.py, its own process so its work is not counted as
the TUI's) lists 1,000 jobs of 1,000 frames and 5,000 agents, then floods
``WatchEventBatches`` for 10 s: 10,000 job and frame events a second, round-robin over
every job, plus one agent event per online agent every 2 s (its heartbeat), each event
stamped with the time it was sent. The real ``RenderqApp`` runs headless
(``App.run_test``) against it, on the tab ``--view`` names, and reports:

1. render delay: per event of the table on screen (job events on the Jobs tab, agent
   events on the Farm tab), from its send time to the screen refresh that follows the
   table's update of that row (``show`` wrapped, then ``call_after_refresh``); events
   that arrive while their tab is hidden are not counted;
2. TUI CPU: the app process's CPU time over the flood, as a share of one core; and the
   full garbage collections meanwhile (each one a pause of the event loop);
3. key latency: every 0.25 s during the flood a key goes in as the terminal would send
   it, from a script per view (Jobs: j j k s, then / s h o Escape, then 2 and 1; Farm:
   j j k j, then 1 and 2); from the key to the screen refresh after its action, by kind
   of key (move, sort, filter, switch). The first switch to the Farm tab fills its
   table (5,000 rows); the later ones find it filled. ``--keys move`` presses only the
   moving and sorting keys (the script of the earlier benchmark), ``--keys none`` none.

It also says how long the listing took to reach the screen after the app started.

``--direct`` hands the same events to the app's view in its own process instead, as the
feed does with what it receives: what the TUI costs without gRPC.

Usage: python bench/tui.py [--view jobs|farm] [--rate 10000] [--agents 5000]
                           [--heartbeat 2] [--seconds 10] [--jobs 1000] [--frames 1000]
                           [--size 160x48] [--keys all|move|none] [--direct]
                           [--profile [--profile-file F]]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import itertools
import pstats
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil
from dispatch import percentile
from tui_fake import add_farm_arguments, canned_agents, canned_job, flood, pass_on

from renderq.client.credentials import Credentials
from renderq.v1 import farm_service_pb2 as fpb

KEY_EVERY = 0.25
DEADLINE = 60.0
TABLES = {"jobs": "job", "farm": "agent"}
"""Tab -> the kind of event its table shows."""
KEYS = {
    "jobs": [
        *(("j", "move"), ("j", "move"), ("k", "move"), ("s", "sort")),
        *(("slash", "filter"), ("s", "filter"), ("h", "filter"), ("o", "filter"), ("escape", "filter")),
        *(("2", "switch"), ("1", "switch")),
    ],
    "farm": [*(("j", "move"), ("j", "move"), ("k", "move"), ("j", "move")), ("1", "switch"), ("2", "switch")],
}
"""(key, kind) sent on each view, in a loop: each script ends on the view it started on."""
CHARACTERS = {"slash": "/", "escape": None}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


class Fake:
    """The fake's process: its port, and the line it prints when the flood is over."""

    def __init__(self, args: argparse.Namespace) -> None:
        script = Path(__file__).with_name("tui_fake.py")
        argv = [sys.executable, str(script), *pass_on(args, 0 if args.direct else args.seconds)]
        self.popen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
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

    def go(self) -> None:
        """Start the flood (the fake waits for this line)."""
        assert self.popen.stdin is not None
        self.popen.stdin.write("go\n")
        self.popen.stdin.flush()

    async def flooded_async(self) -> None:
        """Until the fake's own flood is over (at once with ``--direct``)."""
        if not await asyncio.to_thread(self.served.wait, DEADLINE):
            raise SystemExit("the fake FarmService never opened its watch")

    def stop(self) -> None:
        self.popen.terminate()
        self.popen.wait(10)


class Collections:
    """Full garbage collections while it is on: how many, and the longest and total pause
    (each walks every object the TUI holds: with 5,000 agents, easily 100 ms)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __enter__(self) -> Collections:
        gc.callbacks.append(self._timed)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._timed)

    def _timed(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)


class Probes:
    """The app's view and tables wrapped to time events and keys."""

    def __init__(self, app: Any) -> None:
        from textual.widgets import TabbedContent

        from renderq.tui.agents_table import AgentsTable
        from renderq.tui.jobs_table import JobsTable

        self.app = app
        self.tabs = app.query_one(TabbedContent)
        self.tables = {"jobs": app.query_one(JobsTable), "farm": app.query_one(AgentsTable)}
        self.waiting: dict[str, dict[str, list[float]]] = {tab: defaultdict(list) for tab in TABLES}
        """Tab -> row key -> send times of its events applied to the view, not yet on screen."""
        self.delays: dict[str, list[tuple[float, float]]] = {tab: [] for tab in TABLES}
        """Tab -> (send time, delay until on screen) of each of its events."""
        self.keys: dict[str, list[float]] = defaultdict(list)
        """Kind of key -> delays from the key to the refresh after its action."""
        self.key_sent: tuple[str, float] | None = None
        self.events = 0
        self._wrap()

    def _wrap(self) -> None:
        apply = self.app.view.apply

        def timed_apply(event: fpb.WatchEventsResponse, now: float | None = None) -> None:
            apply(event, now)
            self.events += 1
            kind = event.WhichOneof("resource")
            tab = self.tabs.active
            if TABLES.get(tab) == kind:
                key = str(event.job.id) if kind == "job" else event.agent.id
                self.waiting[tab][key].append(event.time.seconds + event.time.nanos / 1e9)

        self.app.view.apply = timed_apply
        for tab, table in self.tables.items():
            table.show = self._timed_show(tab, table, table.show)
            for name in ("action_cursor_down", "action_cursor_up", "action_cycle_sort", "refilter", "focus"):
                if hasattr(table, name):
                    setattr(table, name, self._after_key(table, getattr(table, name)))
        for name in ("action_filter", "action_clear_filter"):
            setattr(self.app, name, self._after_key(self.app, getattr(self.app, name)))

    def _timed_show(self, tab: str, table: Any, show: Any) -> Any:
        waiting, delays = self.waiting[tab], self.delays[tab]

        def timed_show(changes: Any) -> None:
            show(changes)
            shown = changes.jobs if tab == "jobs" else changes.agents
            keys = list(waiting) if changes.everything else [str(k) for k in shown if str(k) in waiting]
            batch = list(itertools.chain.from_iterable(waiting.pop(k) for k in keys))
            if batch and self.tabs.active == tab:
                table.call_after_refresh(lambda: delays.extend((t, time.time() - t) for t in batch))

        return timed_show

    def _after_key(self, node: Any, action: Any) -> Any:
        """``action``, which ends the key last sent (its refresh then timed)."""

        def run(*args: Any, **kwargs: Any) -> Any:
            result = action(*args, **kwargs)
            if self.key_sent is not None:
                kind, started = self.key_sent
                self.key_sent = None
                node.call_after_refresh(lambda: self.keys[kind].append(time.monotonic() - started))
            return result

        return run

    def press(self, key: str, kind: str) -> None:
        """Send ``key`` as the terminal would; unless the previous one is still unanswered
        (then it is counted once, not twice)."""
        from textual import events

        if self.key_sent is not None:
            return
        self.key_sent = (kind, time.monotonic())
        driver = self.app._driver
        assert driver is not None
        driver.send_message(events.Key(key, CHARACTERS.get(key, key)))

    def settled(self) -> bool:
        """Every event of the tab on screen is on screen; the other tab's are dropped."""
        for tab in TABLES:
            if tab != self.tabs.active:
                self.waiting[tab].clear()
        return not any(self.waiting.values())


class Usage:
    """The app process's CPU, its event loop thread's, full collections and (``--profile``)
    a profile, from ``start`` to ``stop``."""

    def __init__(self, profile: bool) -> None:
        self.me = psutil.Process()
        self.profile = cProfile.Profile() if profile else None
        self.collections = Collections()

    def start(self) -> None:
        self.cpu0, self.thread0, self.wall0 = self.me.cpu_times(), time.thread_time(), time.monotonic()
        if self.profile is not None:
            self.profile.enable()
        self.collections.__enter__()

    def stop(self) -> dict[str, Any]:
        cpu1, loop_cpu = self.me.cpu_times(), time.thread_time() - self.thread0
        self.collections.__exit__()
        if self.profile is not None:
            self.profile.disable()
        cpu = (cpu1.user - self.cpu0.user) + (cpu1.system - self.cpu0.system)
        return {
            "cpu": cpu,
            "loop_cpu": loop_cpu,
            "wall": time.monotonic() - self.wall0,
            "collections": self.collections.pauses,
            "profile": self.profile,
        }


async def listed(app: Any, pilot: Any, probes: Probes, args: argparse.Namespace) -> float:
    """Seconds until the listing is on screen (connecting included); then the tab shown."""
    start = time.monotonic()
    jobs, agents = probes.tables["jobs"], probes.tables["farm"]
    while jobs.row_count < args.jobs or len(app.view.agents) < args.agents or not app.status.connected:
        if time.monotonic() > start + DEADLINE:
            raise SystemExit(f"the app never showed {args.jobs} jobs (it shows {jobs.row_count})")
        await pilot.pause(0.01)
    await pilot.pause()
    seconds = time.monotonic() - start
    if args.view == "farm":
        await pilot.press("2")
        while agents.row_count < args.agents:
            await pilot.pause(0.01)
    await pilot.pause()
    return seconds


async def flood_with_keys(probes: Probes, fake: Fake, args: argparse.Namespace) -> int:
    """Keys every KEY_EVERY seconds while the flood lasts; then until every event is
    applied and on screen. The number of events sent."""
    end = time.monotonic() + args.seconds + DEADLINE
    script = (
        KEYS[args.view] if args.keys == "all" else [k for k in KEYS[args.view] if k[1] in ("move", "sort")]
    )
    keys = itertools.cycle(script)
    while not fake.flooded.is_set():
        if time.monotonic() > end:
            raise SystemExit("the fake never finished its flood")
        await asyncio.sleep(KEY_EVERY)
        if probes.key_sent is None and args.keys != "none":
            key, kind = next(keys)
            probes.press(key, f"{args.view}: {kind}")
    sent = int(fake.done["sent"])
    while probes.events < sent or not probes.settled() or probes.key_sent is not None:
        if time.monotonic() > end:
            raise SystemExit(f"the app applied {probes.events} of {sent} events; some never showed")
        await asyncio.sleep(0.01)
    return sent


async def measure(args: argparse.Namespace, fake: Fake) -> dict[str, Any]:
    from renderq.tui.app import RenderqApp

    async def address() -> str:
        return f"127.0.0.1:{fake.port}"

    app = RenderqApp(address, Credentials(token="bench"))
    width, height = (int(n) for n in args.size.split("x"))
    usage = Usage(args.profile)
    async with app.run_test(headless=True, size=(width, height)) as pilot:
        probes = Probes(app)
        listing = await listed(app, pilot, probes, args)
        fake.go()
        local = asyncio.create_task(direct_flood(app.view, args, fake)) if args.direct else None
        end = time.monotonic() + DEADLINE
        while probes.events == 0:
            if time.monotonic() > end:
                raise SystemExit("no event arrived from the fake FarmService")
            await asyncio.sleep(0.005)
        usage.start()
        sent = await flood_with_keys(probes, fake, args)
        if local is not None:
            await local
        await pilot.pause()
        used = usage.stop()
    return {
        **used,
        "listed": listing,
        "probes": probes,
        "sent": sent,
        "flood_seconds": fake.done["seconds"],
        "fake_cpu": fake.done["cpu"],
    }


async def direct_flood(view: Any, args: argparse.Namespace, fake: Fake) -> None:
    """``--direct``: the same events handed to the app's view in its own process, as the
    feed would, without gRPC; what the TUI costs by itself."""
    await fake.flooded_async()  # the fake's own (empty) flood: the watch is open
    jobs = [canned_job(i, args.frames) for i in range(1, args.jobs + 1)]
    t0 = time.monotonic()
    sent = 0
    async for burst in flood(jobs, canned_agents(args.agents), args):
        for event in burst:
            view.apply(event)
        sent += len(burst)
    fake.done = {"sent": sent, "seconds": time.monotonic() - t0, "cpu": 0.0}
    fake.flooded.set()


def report_delays(tab: str, delays: list[tuple[float, float]]) -> None:
    what = f"{TABLES[tab]} events on the {tab} tab"
    if not delays:
        print(f"render delay of {what}: none measured")
        return
    values = [d for _, d in delays]
    print(
        f"render delay of {what} ({len(values)}): p50 {ms(percentile(values, 50))}  "
        f"p99 {ms(percentile(values, 99))}  max {ms(max(values))}  (target p99 < 250 ms)"
    )
    start = min(t for t, _ in delays)
    windows: dict[int, list[float]] = defaultdict(list)
    for sent_at, delay in delays:
        windows[int((sent_at - start) // 2)].append(delay)
    trend = "  ".join(f"{2 * w}-{2 * w + 2} s: {ms(percentile(d, 99))}" for w, d in sorted(windows.items()))
    print(f"  p99 by when the event was sent (flat: keeping up): {trend}")


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    probes: Probes = r["probes"]
    rate = r["sent"] / r["flood_seconds"]
    print(
        f"{args.size}, {args.view} tab, {args.jobs} jobs x {args.frames} frames, {args.agents} agents; "
        f"events sent: {r['sent']} in {r['flood_seconds']:.2f} s ({rate:,.0f}/s)"
    )
    print(f"the listing on screen {r['listed']:.2f} s after the app started (connecting included)")
    for tab in (args.view, *(t for t in TABLES if t != args.view)):
        report_delays(tab, probes.delays[tab])
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
    pauses = r["collections"]
    print(
        f"full garbage collections: {len(pauses)}"
        + (f", longest {ms(max(pauses))}, {ms(sum(pauses))} in all" if pauses else "")
    )
    every = list(itertools.chain.from_iterable(probes.keys.values()))
    if not every:
        print("key latency: no key was handled during the flood")
    for kind, delays in [("all keys", every), *sorted(probes.keys.items())]:
        if delays:
            print(
                f"key latency, {kind} ({len(delays)}): p50 {ms(percentile(delays, 50))}  "
                f"p99 {ms(percentile(delays, 99))}  max {ms(max(delays))}"
            )
    print(f"load average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    if r["profile"] is not None:
        out = io.StringIO()
        stats = pstats.Stats(r["profile"], stream=out)
        if args.profile_file:
            stats.dump_stats(args.profile_file)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_farm_arguments(parser)
    parser.add_argument("--view", choices=list(TABLES), default="jobs", help="the tab on screen")
    parser.add_argument("--size", default="160x48", help="terminal WIDTHxHEIGHT")
    parser.add_argument("--profile", action="store_true", help="cProfile the TUI during the flood")
    parser.add_argument("--profile-file", help="with --profile, also save the statistics here (pstats)")
    parser.add_argument(
        "--direct",
        action="store_true",
        help="hand the events to the app's view in-process, without gRPC: the TUI's own cost",
    )
    parser.add_argument(
        "--keys",
        choices=("all", "move", "none"),
        default="all",
        help="the keys pressed: the whole script, only moving and sorting, or none (the flood alone)",
    )
    args = parser.parse_args()
    fake = Fake(args)
    try:
        results = asyncio.run(measure(args, fake))
    finally:
        fake.stop()
    report(args, results)


if __name__ == "__main__":
    main()
