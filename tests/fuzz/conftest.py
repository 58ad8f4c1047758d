"""One in-process controller for every fuzz example, and the sizes of the fuzz runs.

The controller runs on an event loop of its own in a background thread, and the
examples call it through a plain (blocking) gRPC channel, exactly as a script would:
hypothesis drives ordinary functions, and a controller that stops answering shows up
as a failed call with a deadline rather than as a hung test.

The profiles are applied to the fuzz tests only (``FUZZ_SETTINGS``), never loaded
globally, so the other property tests of the suite keep their own sizes.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc
import pytest
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, settings

from renderq import tokens
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from ..controller.conftest import DEADLINE, start_controller, stop_controller

PROFILE_ENV = "RENDERQ_FUZZ_PROFILE"
PROFILES = ("ci", "nightly")

_COMMON: dict[str, Any] = {
    # Latency of a real server is no property of the input: only statuses are judged.
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
    # Failures are reproduced from the printed blob; no example database in the work tree.
    "database": None,
}
settings.register_profile("ci", max_examples=300, derandomize=True, **_COMMON)
settings.register_profile("nightly", max_examples=1000, **_COMMON)


def _fuzz_settings() -> settings:
    name = os.environ.get(PROFILE_ENV, "ci")
    if name not in PROFILES:
        raise pytest.UsageError(f"{PROFILE_ENV}={name!r}: the fuzz profiles are {', '.join(PROFILES)}")
    return settings.get_profile(name)


FUZZ_SETTINGS = _fuzz_settings()

T = TypeVar("T")

CLIENT_OPTIONS = [
    # The client may send anything (the oversize test sends more than the server
    # takes) and read any answer the server is willing to send.
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
]


class ControllerThread:
    """An event loop in a thread, running the controller until ``close``."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="controller", daemon=True)
        self._thread.start()
        try:
            self.task, self.port = self._run(start_controller(data_dir, []))
        except BaseException:
            self._stop_loop()
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(DEADLINE)

    @property
    def serving(self) -> bool:
        return not self.task.done()

    def close(self) -> None:
        if not self.loop.is_closed():
            self._run(stop_controller(self.task))
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(DEADLINE)
        self.loop.close()


class WithToken:
    """A stub whose every call carries the admin token (the fuzz explores requests, not roles)."""

    def __init__(self, stub: fgrpc.FarmServiceStub, token: str) -> None:
        self._stub = stub
        self._metadata = ((tokens.METADATA_KEY, f"Bearer {token}"),)

    def __getattr__(self, method: str) -> Any:
        return functools.partial(getattr(self._stub, method), metadata=self._metadata)


class Farm:
    """The fuzzed controller and a channel to it, as a script would hold them."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._start()

    def _start(self) -> None:
        self.controller = ControllerThread(self.data_dir)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.controller.port}", options=CLIENT_OPTIONS)
        token = tokens.read_local(self.data_dir)
        assert token, "the controller wrote no local admin token"
        self.stub = cast(fgrpc.FarmServiceStub, WithToken(fgrpc.FarmServiceStub(self.channel), token))

    def restart(self) -> None:
        """Stop the controller and start a new one on the same database."""
        self.close()
        self._start()

    def close(self) -> None:
        self.channel.close()
        self.controller.close()


def demo_job(**fields: Any) -> pb.Job:
    params = struct_pb2.Struct()
    params.update({"seconds_per_frame": 0.0})
    return pb.Job(**{"plugin": "demo", "frames": "1-20", "parameters": params, **fields})


def _seed(stub: fgrpc.FarmServiceStub) -> None:
    """Jobs in several states, so fuzzed ids reach real jobs and every job verb has work."""

    def create(**fields: Any) -> pb.Job:
        return stub.CreateJob(fpb.CreateJobRequest(job=demo_job(**fields)), timeout=DEADLINE).job

    queued = create(name="queued")
    suspended = create(name="suspended", chunk_size=5)
    cancelled = create(name="cancelled")
    create(name="waiting", depends_on=[queued.id])
    stub.SuspendJob(fpb.SuspendJobRequest(job_id=suspended.id), timeout=DEADLINE)
    stub.CancelJob(fpb.CancelJobRequest(job_id=cancelled.id), timeout=DEADLINE)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    farm = Farm(tmp_path_factory.mktemp("fuzzed-controller"))
    try:
        _seed(farm.stub)
        yield farm
    finally:
        farm.close()
