"""The controller's end of each agent Link: dial, hello, read events, write requests.

One ``AgentLink`` per dial target keeps trying with backoff (0.2 s doubling to 5 s; an
agent that refuses the farm key, 10 s doubling to 5 minutes) until the agent is
forgotten. Each successful connection is a ``LinkSession``: the farm sends through the
session, never through the link, so an ack meant for one agent session can never reach
the next (an agent that restarted numbers its events from 1 again).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections import deque
from pathlib import Path

import grpc

import renderq
from renderq import farm_key, tls
from renderq.controller.blob_serving import BlobServing
from renderq.controller.farm import Farm
from renderq.grpc_limits import MAX_MESSAGE_BYTES, MESSAGE_SIZE_OPTIONS
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import agent_service_pb2_grpc as agrpc

log = logging.getLogger(__name__)

CHANNEL_OPTIONS = [
    *MESSAGE_SIZE_OPTIONS,
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
BACKOFF_FIRST = 0.2
BACKOFF_MAX = 5.0
REFUSED_BACKOFF_FIRST = 10.0
REFUSED_BACKOFF_MAX = 300.0
"""An agent that failed the farm-key handshake (another farm's, or one never joined)
will not come right by itself: it is retried ever more rarely, up to every 5 minutes,
so a second farm on the LAN costs it a log line now and then, not every 5 s."""
HELLO_TIMEOUT = 10.0
ASSIGN_MANY_BYTES = MAX_MESSAGE_BYTES // 4
"""Bytes of assignments from which no more join one message: a task's project files are
listed in its assignment, and several large ones must stay far under the message limit."""


class Outcome(enum.Enum):
    """How one connection to an agent ended."""

    LINKED = "linked"
    """The agent proved the farm key and the link ran."""
    FAILED = "failed"
    """No answer, a broken stream or a TLS failure: try again soon."""
    REFUSED = "refused"
    """The agent does not hold this farm's key."""


class Backoff:
    """The pause before the next round of dials, from how the last round went."""

    def __init__(self) -> None:
        self._failed = BACKOFF_FIRST
        self._refused = REFUSED_BACKOFF_FIRST

    def after(self, outcomes: list[Outcome]) -> float:
        if Outcome.LINKED in outcomes:
            self._failed, self._refused = BACKOFF_FIRST, REFUSED_BACKOFF_FIRST
        if outcomes and all(o is Outcome.REFUSED for o in outcomes):
            pause, self._refused = self._refused, min(self._refused * 2, REFUSED_BACKOFF_MAX)
            return pause
        pause, self._failed = self._failed, min(self._failed * 2, BACKOFF_MAX)
        return pause


class LinkSession:
    """One open Link stream; what the farm holds as the agent's link.

    Requests go out in the order they were sent. To an agent that takes them
    (``AgentHello.takes_assign_many``), assignments waiting one behind the other go in one
    message (``assign_many``): the dispatcher's pass refills an agent's slots and the tasks
    sent ahead several at a time, and each message costs both sides a write and a read
    (the largest single cost left per task, bench/README.md)."""

    def __init__(self, *, assign_many: bool = False) -> None:
        self._outgoing: deque[apb.LinkRequest] = deque()
        self._sent = asyncio.Event()
        self._assign_many = assign_many
        self.open = True

    def send(self, request: apb.LinkRequest) -> None:
        if self.open:
            self._outgoing.append(request)
            self._sent.set()

    async def write_loop(self, call: grpc.aio.StreamStreamCall) -> None:
        while True:
            while not self._outgoing:
                self._sent.clear()
                await self._sent.wait()
            await call.write(self._next())

    def _next(self) -> apb.LinkRequest:
        """The oldest request, with the assignments right behind it when it is one."""
        outgoing = self._outgoing
        request = outgoing.popleft()
        if not (self._assign_many and request.HasField("assign")):
            return request
        tasks = [request.assign]
        size = request.ByteSize()
        while outgoing and outgoing[0].HasField("assign") and size < ASSIGN_MANY_BYTES:
            size += outgoing[0].ByteSize()
            tasks.append(outgoing.popleft().assign)
        return request if len(tasks) == 1 else apb.LinkRequest(assign_many=apb.AssignTasks(tasks=tasks))


class AgentLink:
    def __init__(self, manager: LinkManager, addresses: list[str], agent_id: str = "") -> None:
        self.manager = manager
        self.addresses = addresses
        self.agent_id = agent_id
        self.task: asyncio.Task[None] | None = None
        self._tls_failures: dict[str, tls.HandshakeFailure] = {}
        """The TLS failure last warned about per address, so a retry every 5 s warns once."""

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            outcomes = []
            for address in list(self.addresses):
                outcome = await self._try(address)
                outcomes.append(outcome)
                if outcome is Outcome.LINKED:
                    self._tls_failures.pop(address, None)
                    break
            await asyncio.sleep(backoff.after(outcomes))

    async def _try(self, address: str) -> Outcome:
        try:
            return await self._connect(address)
        except grpc.aio.AioRpcError as e:
            log.debug("link failed address=%s code=%s %s", address, e.code().name, e.details())
            self._explain_tls_failure(address, e.details() or "")
        except (OSError, ConnectionError) as e:
            log.debug("link failed address=%s %s", address, e)
        return Outcome.FAILED

    def _explain_tls_failure(self, address: str, details: str) -> None:
        """Warn once when the agent answers but the TLS handshake fails: unlike an agent
        that is down, it will not come right by itself."""
        failure = tls.handshake_failure(details)
        if failure is None or self._tls_failures.get(address) is failure:
            return
        self._tls_failures[address] = failure
        match failure:
            case tls.HandshakeFailure.UNTRUSTED:
                fix = "give it a certificate from this farm's CA (`renderq certs --node-dir` where ca.key is)"
            case tls.HandshakeFailure.EXPIRED:
                fix = "renew its certificate with `renderq certs --node-dir`, or check the clocks"
            case tls.HandshakeFailure.WRONG_NAME:
                fix = f"its certificate must name {tls.FARM_NAME}: issue it with `renderq certs`"
            case tls.HandshakeFailure.NOT_TLS:
                fix = "start the agent with --tls DIR, as the controller"
            case tls.HandshakeFailure.CLOSED:
                fix = "if the agent serves TLS, start the controller with --tls DIR too"
            case _:
                fix = f"check the --tls directories of both ({details})"
        log.warning(
            "cannot link to agent address=%s tls=%s: %s; %s", address, failure.name, failure.value, fix
        )

    async def _connect(self, address: str) -> Outcome:
        """One connection, from the hello to the end of the link."""
        async with self.manager.open_channel(address) as channel:
            call = agrpc.AgentServiceStub(channel).Link()
            try:
                hello = await self._handshake(call, address)
                if isinstance(hello, Outcome):
                    return hello
                if not self.manager.claim(self, hello.agent_id):
                    return Outcome.FAILED
                await self._serve(call, address, hello)
                return Outcome.LINKED
            finally:
                call.cancel()

    async def _handshake(self, call: grpc.aio.StreamStreamCall, address: str) -> apb.AgentHello | Outcome:
        """Hello both ways and the farm key proved both ways; the agent's hello, or why not."""
        nonce = farm_key.new_nonce()
        manager = self.manager
        hello_request = apb.ControllerHello(
            controller_id=manager.controller_id, version=renderq.__version__, nonce=nonce
        )
        await call.write(apb.LinkRequest(hello=hello_request))
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancel
            # that comes as the read completes, and the link would outlive its close.
            async with asyncio.timeout(HELLO_TIMEOUT):
                first = await call.read()
        except TimeoutError:
            log.warning("agent did not answer hello within %.0f s address=%s", HELLO_TIMEOUT, address)
            return Outcome.FAILED
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "hello":
            log.warning("agent did not say hello address=%s", address)
            return Outcome.FAILED
        hello = first.hello
        if not hello.proof:
            why = "it has no farm key: start it with the line `renderq join-token` prints"
            manager.farm.liveness.refused(address, hello, why)
            return Outcome.REFUSED
        if not farm_key.matches(
            farm_key.agent_proof(manager.key, nonce, hello.nonce, hello.agent_id), hello.proof
        ):
            manager.farm.liveness.refused(
                address, hello, "its farm key is not this farm's (wrong join token?)"
            )
            return Outcome.REFUSED
        proof = farm_key.controller_proof(manager.key, nonce, hello.nonce, hello.agent_id)
        await call.write(apb.LinkRequest(proof=apb.ControllerProof(proof=proof)))
        return hello

    async def _serve(self, call: grpc.aio.StreamStreamCall, address: str, hello: apb.AgentHello) -> None:
        """The link of a proven agent, until it ends: its events and heartbeats to the farm,
        the farm's requests to it."""
        farm = self.manager.farm
        session = LinkSession(assign_many=hello.takes_assign_many)
        farm.liveness.connected(session, address, hello)
        farm.outputs.linked(hello.agent_id)
        writer = asyncio.create_task(session.write_loop(call))
        blobs = BlobServing(farm.state, farm.blobs, hello.agent_id, session, farm.analyses.blobs_for)
        try:
            while (message := await call.read()) is not grpc.aio.EOF:
                kind = message.WhichOneof("kind")
                if kind == "events":
                    for event in message.events.events:
                        farm.task_events.apply(hello.agent_id, session, event)
                elif kind == "heartbeat":
                    farm.liveness.heartbeat(hello.agent_id, message.heartbeat)
                elif kind == "cleaned":
                    farm.cleanups.answered(hello.agent_id, message.cleaned)
                elif kind == "analyzed":
                    farm.analyses.answered(hello.agent_id, message.analyzed)
                elif kind == "want_blob":
                    blobs.want(message.want_blob)
                elif kind == "output":
                    farm.outputs.received(hello.agent_id, message.output)
                elif kind == "goodbye":
                    farm.liveness.left(hello.agent_id, session, message.goodbye.reason)
                    break
        except grpc.aio.AioRpcError as e:
            log.info("link broke agent=%s code=%s %s", hello.agent_id, e.code().name, e.details())
        finally:
            session.open = False
            writer.cancel()
            blobs.close()
            farm.liveness.disconnected(hello.agent_id, session)
            farm.outputs.unlinked(hello.agent_id)


class LinkManager:
    """Every agent the controller dials: from --agent flags and from mDNS."""

    def __init__(self, farm: Farm, key: bytes, tls_dir: Path | None = None) -> None:
        self.farm = farm
        self.key = key
        self._tls = tls.channel_credentials(tls_dir) if tls_dir else None
        """Trust only the farm CA in ``tls_dir``; None: plain TCP."""
        self.controller_id = uuid.uuid4().hex[:12]
        self._by_address: dict[str, AgentLink] = {}
        self._by_agent: dict[str, AgentLink] = {}

    def open_channel(self, address: str) -> grpc.aio.Channel:
        if self._tls is None:
            return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        # Agents are dialled by whatever IP mDNS found, so their certificates are
        # checked against the one name every farm certificate carries.
        options = [*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", tls.FARM_NAME)]
        return grpc.aio.secure_channel(address, self._tls, options=options)

    def dial(self, addresses: list[str], agent_id: str = "") -> None:
        """Keep a link to the agent at ``addresses`` (tried in order)."""
        if agent_id and agent_id in self._by_agent:
            self._by_agent[agent_id].addresses = addresses
            return
        if any(a in self._by_address for a in addresses):
            return
        link = AgentLink(self, addresses, agent_id)
        for address in addresses:
            self._by_address[address] = link
        if agent_id:
            self._by_agent[agent_id] = link
        link.task = asyncio.create_task(link.run(), name=f"link {addresses[0]}")
        log.info("dialling agent addresses=%s agent=%s", ",".join(addresses), agent_id or "?")

    def forget(self, agent_id: str, address: str) -> None:
        """Stop dialling a forgotten agent, by its id or the address it was found at."""
        links = {self._by_agent.pop(agent_id, None), self._by_address.get(address)} - {None}
        for link in links:
            assert link is not None
            for known in link.addresses:
                self._by_address.pop(known, None)
            if link.task is not None:
                link.task.cancel()
            log.info("stopped dialling agent=%s addresses=%s", agent_id, ",".join(link.addresses))

    def claim(self, link: AgentLink, agent_id: str) -> bool:
        """Bind ``link`` to ``agent_id``; a second link to the same agent stops for good
        (two links would keep replacing each other on the agent)."""
        owner = self._by_agent.get(agent_id)
        if owner is not None and owner is not link:
            log.info(
                "agent already linked, dropping duplicate agent=%s addresses=%s", agent_id, link.addresses
            )
            if link.task is not None:
                link.task.cancel()
            return False
        self._by_agent[agent_id] = link
        link.agent_id = agent_id
        return True

    async def close(self) -> None:
        links = set(self._by_address.values())
        for link in links:
            if link.task is not None:
                link.task.cancel()
        await asyncio.gather(*(link.task for link in links if link.task), return_exceptions=True)
