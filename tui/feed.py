"""The TUI's line to the controller: list, then watch, and start again when it breaks.

One ``FarmFeed`` runs for the life of the app. It keeps a ``FarmView`` current from
``WatchEventBatches`` (never a polling loop), hands the screens what changed at most every
``FLUSH_SECONDS`` (so 10,000 events a second become ten redraws), says when it is
connected or not and why, and offers its stub to the actions. When the controller
goes away it retries with a growing pause (``Following``), and on return lists
everything again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from renderq.client.channel import connect
from renderq.client.credentials import Credentials
from renderq.client.enums import label
from renderq.client.errors import CallFailed
from renderq.client.paging import collect_pages, pages
from renderq.tui.farm_view import Changes, FarmView
from renderq.tui.following import Following
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.1
PAGE = 1000


@dataclass(frozen=True)
class FeedStatus:
    connected: bool
    address: str = ""
    problem: str = ""
    """Why it is not connected, in words."""
    caller: str = ""
    """``name (role)`` of the token in use, once connected."""


async def list_all(stub: FarmServiceAsyncStub) -> tuple[list[pb.Job], list[pb.Agent], int]:
    """Every job and agent, and the event sequence the listing is current at (the first
    page's: events after it may repeat what later pages show, which applying makes good)."""
    jobs: list[pb.Job] = []
    sequence = 0
    async for page in pages(
        lambda token: stub.ListJobs(fpb.ListJobsRequest(page_size=PAGE, page_token=token))
    ):
        sequence = sequence or page.event_sequence
        jobs.extend(page.jobs)
    agents = await collect_pages(
        lambda token: stub.ListAgents(fpb.ListAgentsRequest(page_token=token)), lambda page: page.agents
    )
    return jobs, agents, sequence


def grpc_words(error: grpc.aio.AioRpcError) -> CallFailed:
    """gRPC's own words and status (``Connection refused (UNAVAILABLE)``): the status line
    names the address itself. The feed retries whatever the answer."""
    code = error.code().name
    return CallFailed(f"{error.details() or code} ({code})", code)


class FarmFeed:
    def __init__(
        self,
        resolve: Callable[[], Awaitable[str]],
        credentials: Credentials,
        view: FarmView,
        on_changes: Callable[[Changes], None],
        on_status: Callable[[FeedStatus], None],
    ) -> None:
        self._resolve = resolve
        """Where the controller is now (a flag, or mDNS), asked before each connection."""
        self._credentials = credentials
        self.view = view
        self._on_changes = on_changes
        self._on_status = on_status
        self.address = ""
        """The controller's address, as last resolved."""
        self.stub: FarmServiceAsyncStub | None = None
        """The live stub while connected, for actions; None otherwise."""
        self._following = Following(grpc_words, self._lost)

    async def run(self) -> None:
        """Forever: connect, follow, and after a failure wait and connect again."""
        flusher = asyncio.create_task(self._flush_forever(), name="feed-flush")
        try:
            await self._following.run(self._connect_and_follow)
        finally:
            flusher.cancel()

    async def _connect_and_follow(self) -> bool:
        self.address = await self._resolve()
        async with connect(self.address, self._credentials) as stub:
            await self._follow(stub)
        self._lost("the controller ended the event stream")
        return False

    def _lost(self, problem: str) -> None:
        self.stub = None
        log.info("feed lost address=%s problem=%s", self.address, problem)
        self._on_status(FeedStatus(False, self.address, problem))

    async def _follow(self, stub: FarmServiceAsyncStub) -> None:
        caller = await stub.GetCaller(fpb.GetCallerRequest())
        role = label(pb.Role, caller.role)
        while True:
            jobs, agents, sequence = await list_all(stub)
            self.view.load(jobs, agents, sequence)
            self.stub = stub
            self._following.live()
            self._on_status(FeedStatus(True, self.address, caller=f"{caller.name} ({role})"))
            self._flush()
            stream = stub.WatchEventBatches(fpb.WatchEventBatchesRequest(after_sequence=sequence))
            async for batch in stream:
                if not batch.events:
                    continue
                first = batch.events[0]
                if first.WhichOneof("resource") == "resync":
                    break  # we fell behind: list again, then watch on
                if sequence == 0 and first.sequence > 1:
                    # The listing saw a farm with no event yet, and a cursor of 0 watches
                    # "from now on": events 1 to this one came in between. List again.
                    break
                for event in batch.events:
                    self.view.apply(event)
                sequence = batch.events[-1].sequence
            else:
                return

    def _flush(self) -> None:
        changes = self.view.take_changes()
        if changes:
            self._on_changes(changes)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self._flush()
