"""The agent's side of ``AgentService.Link``: one controller link at a time.

The controller dials; the agent answers its hello, replays the outbox, then streams
new events and a heartbeat. Requests (assign, several assigns in one, cancel, ack, drain,
cleanup, analyze) are read by one task and events written by another; an answer to a request (a cleanup's, a
scene analysis) takes its turn on the same ``LinkWriter``, since a stream allows one write
at a time. A link that goes away takes nothing with it: tasks keep running and their
events wait in the outbox for the next link, which replaces the previous one (a controller that reconnects
must not find its old stream still holding the agent). The blob cache asks each new
link for the chunks its fetches still lack (``want_blob``, answered by ``blob``), and the
controller asks for outputs a chunk at a time (``want_output``, answered by ``output``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine

import grpc

from renderq import farm_key
from renderq.agent.attempts import Attempts
from renderq.agent.cleanup import clean
from renderq.agent.hardware import current_load
from renderq.agent.outbox import Outbox, batches
from renderq.agent.output_serving import OutputServing
from renderq.agent.scene_analysis import SceneAnalyst
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import agent_service_pb2_grpc

log = logging.getLogger(__name__)

HelloFactory = Callable[[], Awaitable[apb.AgentHello]]

NO_KEY = (
    "this agent has no farm key, so it refuses every controller: run `renderq join-token` on the "
    "controller and start this agent once with the line it prints (--join TOKEN)"
)
GATHER_WINDOW = 0.02
"""Seconds events other than a task's end may wait for company before they are sent."""
GATHER_WHILE_WAITING = 2
"""Tasks waiting for this agent's slots from which a task's end, too, waits for company."""
PROOF_TIMEOUT = 10.0
"""Seconds a controller has to prove the farm key after the agent's hello."""


class LinkWriter:
    """The one way onto a link's response stream: the events writer and the answers to
    requests take turns, since gRPC allows one write in flight per stream."""

    def __init__(self, context: grpc.aio.ServicerContext[apb.LinkRequest, apb.LinkResponse]) -> None:
        self._context = context
        self._turn = asyncio.Lock()

    async def write(self, response: apb.LinkResponse) -> None:
        async with self._turn:
            await self._context.write(response)


class LinkService(agent_service_pb2_grpc.AgentServiceServicer):
    def __init__(
        self,
        hello: HelloFactory,
        attempts: Attempts,
        outbox: Outbox,
        heartbeat_interval: float,
        key: bytes | None,
        analyst: SceneAnalyst,
    ) -> None:
        self._key = key
        self._analyst = analyst
        self._hello = hello
        self._attempts = attempts
        self._outbox = outbox
        self._heartbeat_interval = heartbeat_interval
        self._replaced: asyncio.Event | None = None
        """Set to end the current link: a newer one arrived, or the agent stops."""
        self._goodbye: str | None = None
        """Why the agent stops, once it does: said on the link as it ends; no new link is taken."""
        self._link_ended = asyncio.Event()
        self.links = 0
        """Links opened by a controller that proved the farm key (the metrics endpoint reads it)."""
        self._answering: set[asyncio.Task[None]] = set()
        """Cleanups and analyses under way (held here: the loop keeps only weak references to tasks)."""

    # Responses go through context.write() (by a LinkWriter), so Link returns None
    # where the generated stub expects an iterator.
    async def Link(  # type: ignore[override]
        self,
        request_iterator: AsyncIterator[apb.LinkRequest],
        context: grpc.aio.ServicerContext[apb.LinkRequest, apb.LinkResponse],
    ) -> None:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None:
            return
        if first.WhichOneof("kind") != "hello":
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "the first message on a link must be hello"
            )
        controller = first.hello.controller_id
        if self._goodbye is not None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the agent is stopping: {self._goodbye}")
        if not await self._prove(first.hello, requests, context):
            return
        if self._replaced is not None:
            self._replaced.set()
        replaced = self._replaced = asyncio.Event()
        self.links += 1
        log.info("controller linked controller=%s version=%s", controller, first.hello.version)
        writer = LinkWriter(context)
        wants: asyncio.Queue[apb.BlobWanted] = asyncio.Queue()
        self._attempts.blobs.attach(wants.put_nowait)
        outputs = OutputServing(self._attempts.hashed, self._attempts.workspaces, writer.write)
        tasks = [
            asyncio.create_task(self._read(requests, writer, outputs), name="link-read"),
            asyncio.create_task(outputs.serve(), name="link-outputs"),
            asyncio.create_task(self._write(writer), name="link-write"),
            asyncio.create_task(self._ask_for_blobs(wants, writer), name="link-blobs"),
            asyncio.create_task(replaced.wait(), name="link-replaced"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            reason = "controller closed it"
            if replaced.is_set():
                reason = "replaced by a newer link or ended by the agent"
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    reason = f"error: {task.exception()!r}"
        except asyncio.CancelledError:
            # gRPC cancels the handler when the controller goes away or the server
            # stops: an ordinary end of a link, not an error to propagate (and log).
            reason = "controller went away"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._replaced is replaced:
                self._replaced = None
                self._attempts.blobs.detach()
                if self._goodbye is not None:
                    reason = f"the agent is stopping: {self._goodbye}"
                    with contextlib.suppress(Exception):
                        await writer.write(apb.LinkResponse(goodbye=apb.AgentGoodbye(reason=self._goodbye)))
                self._link_ended.set()
        log.info("controller link closed controller=%s reason=%s", controller, reason)

    async def _prove(
        self,
        controller: apb.ControllerHello,
        requests: AsyncIterator[apb.LinkRequest],
        context: grpc.aio.ServicerContext[apb.LinkRequest, apb.LinkResponse],
    ) -> bool:
        """Answer the hello with this agent's proof of the farm key, then demand the
        controller's. Nothing else happens on a link (no replay, no task, no replacing
        the current link) before both proofs check out."""
        hello = await self._hello()
        hello.nonce = farm_key.new_nonce()
        if self._key is not None:
            hello.proof = farm_key.agent_proof(self._key, controller.nonce, hello.nonce, hello.agent_id)
        await context.write(apb.LinkResponse(hello=hello))
        if self._key is None:
            log.warning("refused a controller peer=%s: %s", context.peer(), NO_KEY)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, NO_KEY)
            return False
        try:
            # asyncio.timeout, not wait_for, which on Python 3.11 can lose a cancel.
            async with asyncio.timeout(PROOF_TIMEOUT):
                answer = await anext(requests, None)
        except TimeoutError:
            answer = None
        expected = farm_key.controller_proof(self._key, controller.nonce, hello.nonce, hello.agent_id)
        if (
            answer is None
            or answer.WhichOneof("kind") != "proof"
            or not farm_key.matches(expected, answer.proof.proof)
        ):
            log.warning(
                "refused a controller that did not prove the farm key controller=%s peer=%s",
                controller.controller_id, context.peer(),
            )  # fmt: skip
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "this agent obeys only a controller that proves the farm key",
            )
            return False
        return True

    @property
    def state(self) -> str:
        """``linked`` (a controller holds the link), ``unlinked``, or ``stopping`` (no link is taken)."""
        if self._goodbye is not None:
            return "stopping"
        return "linked" if self._replaced is not None else "unlinked"

    async def farewell(self, reason: str, grace: float) -> None:
        """Tell the linked controller that this agent stops, then end the link.

        The controller then requeues this agent's frames at once and lists it offline,
        instead of waiting out the heartbeat timeout. Links that come later are refused."""
        self._goodbye = reason
        if self._replaced is None:
            return
        self._link_ended.clear()
        self._replaced.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._link_ended.wait()

    async def _read(
        self, requests: AsyncIterator[apb.LinkRequest], writer: LinkWriter, outputs: OutputServing
    ) -> None:
        async for request in requests:
            kind = request.WhichOneof("kind")
            if kind == "assign":
                self._attempts.assign(request.assign)
            elif kind == "assign_many":
                for assign in request.assign_many.tasks:
                    self._attempts.assign(assign)
            elif kind == "cancel":
                self._attempts.cancel(request.cancel.attempt_id, request.cancel.reason)
            elif kind == "ack":
                dropped = self._outbox.ack(request.ack.sequence)
                log.debug(
                    "ack sequence=%d dropped=%d waiting=%d", request.ack.sequence, dropped, len(self._outbox)
                )
            elif kind == "drain":
                log.info("drain requested: running tasks finish, the controller sends no new work")
            elif kind == "blob":
                self._attempts.blobs.receive(request.blob)
            elif kind == "want_output":
                outputs.want(request.want_output)
            elif kind == "cleanup":
                self._answer_beside(self._clean(request.cleanup, writer), "cleanup")
            elif kind == "analyze":
                self._answer_beside(self._analyse(request.analyze, writer), "analyze")
            else:
                log.warning("link request ignored kind=%s", kind)

    def _answer_beside(self, answering: Coroutine[None, None, None], name: str) -> None:
        """Answer a request in a task of its own: the reads must not wait for it."""
        task = asyncio.create_task(answering, name=name)
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _analyse(self, request: apb.AnalyzeScene, writer: LinkWriter) -> None:
        """Analyse the scene the controller names, then answer on the link it asked on."""
        answer = await self._analyst.analyse(request)
        try:
            await writer.write(apb.LinkResponse(analyzed=answer))
        except Exception as exc:
            log.info("analysis not sent request=%d: the link ended (%r)", request.request_id, exc)

    async def _clean(self, request: apb.CleanupWorkspaces, writer: LinkWriter) -> None:
        """Remove the workspaces the controller names (never those of jobs running here), then
        answer on the link it asked on; it runs beside the reads, which must not wait for it."""
        attempts = self._attempts
        try:
            done = await clean(attempts.workspaces, request, attempts.running_job_ids())
        except Exception as exc:
            log.exception("cleanup failed request=%d", request.request_id)
            done = apb.CleanupDone(request_id=request.request_id, error=f"the agent failed to clean: {exc}")
        try:
            await writer.write(apb.LinkResponse(cleaned=done))
        except Exception as exc:
            log.info("cleanup answer not sent request=%d: the link ended (%r)", request.request_id, exc)

    async def _ask_for_blobs(self, wants: asyncio.Queue[apb.BlobWanted], writer: LinkWriter) -> None:
        """The blob cache's requests for chunks (``want_blob``), as it makes them; the
        controller answers each with a ``blob`` request."""
        while True:
            await writer.write(apb.LinkResponse(want_blob=await wants.get()))

    async def _write(self, writer: LinkWriter) -> None:
        """The outbox from its oldest unacked event, then new events, with a
        heartbeat right after the replay and every interval from then on."""
        loop = asyncio.get_running_loop()
        sent = 0
        next_heartbeat = loop.time()
        while True:
            # Everything up to `through` is now sent or already acked.
            through = self._outbox.last_sequence
            for batch in batches(self._outbox.after(sent)):
                await writer.write(apb.LinkResponse(events=apb.AgentEvents(events=batch)))
            sent = through
            if loop.time() >= next_heartbeat:
                await writer.write(apb.LinkResponse(heartbeat=self._heartbeat()))
                next_heartbeat = loop.time() + self._heartbeat_interval
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_heartbeat):
                    await self._outbox.wait_beyond(sent)
                    await self._gather(sent, min(next_heartbeat, loop.time() + GATHER_WINDOW))

    async def _gather(self, sent: int, until: float) -> None:
        """Let new events gather until one that ends a task arrives or ``until``: a task
        that starts and ends within the window costs the link one message, not two, and
        the controller one turn. Nothing waits on a task's start the way the next
        assignment waits on its end, which goes at once, unless tasks sent ahead wait here
        (``GATHER_WHILE_WAITING``): the slot it freed already runs the next, and the ends
        of short tasks then go a few to a message."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(until):
                while not (
                    self._outbox.ends_a_task(after=sent) and self._attempts.waiting() < GATHER_WHILE_WAITING
                ):
                    await self._outbox.wait_beyond(self._outbox.last_sequence)

    def _heartbeat(self) -> apb.Heartbeat:
        return apb.Heartbeat(load=current_load(), running_attempt_ids=self._attempts.running_ids())
