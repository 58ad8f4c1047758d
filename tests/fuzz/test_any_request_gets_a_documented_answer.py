"""Whatever a caller sends, every FarmService RPC answers with a documented status.

A user's mistake must come back as OK, INVALID_ARGUMENT, NOT_FOUND,
FAILED_PRECONDITION, ALREADY_EXISTS (or RESOURCE_EXHAUSTED for a message over the
64 MiB limit), never INTERNAL or UNKNOWN; and after each request the controller
still answers. Requests are generated from the message descriptors (see
strategies.py), so every RPC of the service is covered, new ones included.

Sizes come from the hypothesis profile named by ``RENDERQ_FUZZ_PROFILE``:

- ``ci`` (the default): 300 examples per RPC, derandomized, so CI sees the same
  examples on every run and the folder stays well under 90 seconds.
- ``nightly``: 1,000 random examples per RPC and per near-valid kind (about 23,000
  requests in all, a few minutes), a new draw every run. Run it with::

      RENDERQ_FUZZ_PROFILE=nightly python -m pytest tests/fuzz -q

  A failure prints the example and a ``@reproduce_failure`` blob to paste over the
  failing test.

The tests share one controller and run in file order: the near-valid submissions
first (so later RPCs meet real jobs), the restart check last (it reads back
everything the fuzz got accepted).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from hypothesis import event, given
from hypothesis import strategies as st

from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from .conftest import FUZZ_SETTINGS, Farm
from .strategies import NEAR_VALID, messages

SERVICE = fpb.DESCRIPTOR.services_by_name["FarmService"]
METHODS = list(SERVICE.methods)

DOCUMENTED = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
    }
)
STREAM_CUT = frozenset({grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED})
"""How a stream ends when the test stops reading it (its own deadline or cancel)."""

CALL_DEADLINE = 30.0
"""A unary answer later than this is a controller that stopped answering."""
STREAM_READ = 0.2
"""How long a stream is read when no message comes (WatchEvents waits for changes)."""
OVERSIZE = (64 << 20) + (1 << 20)


def call_unary(farm: Farm, method: MethodDescriptor, request: Message) -> tuple[grpc.StatusCode, str]:
    """One answer; a client-streaming method (UploadBlob) is sent ``request`` as its only message."""
    sent: Message | Iterator[Message] = iter([request]) if method.client_streaming else request
    try:
        getattr(farm.stub, method.name)(sent, timeout=CALL_DEADLINE)
    except grpc.RpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


def call_stream(farm: Farm, method: MethodDescriptor, request: Message) -> tuple[grpc.StatusCode, str]:
    """Open the stream, take its first message (or its end, or our deadline), then cancel."""
    stream = getattr(farm.stub, method.name)(request, timeout=STREAM_READ)
    try:
        next(stream)
    except StopIteration:
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        if e.code() in STREAM_CUT:
            return grpc.StatusCode.OK, ""
        return e.code(), e.details() or ""
    finally:
        stream.cancel()
    return grpc.StatusCode.OK, ""


def call(farm: Farm, method: MethodDescriptor, request: Message) -> tuple[grpc.StatusCode, str]:
    if method.server_streaming:
        return call_stream(farm, method, request)
    return call_unary(farm, method, request)


def assert_still_serving(farm: Farm) -> None:
    assert farm.controller.serving, "the controller's serve task ended"
    listing = farm.stub.ListJobs(fpb.ListJobsRequest(page_size=1), timeout=CALL_DEADLINE)
    assert listing.jobs, "the controller lists no jobs, yet jobs were seeded"


def assert_documented(farm: Farm, method: MethodDescriptor, request: Message) -> None:
    code, details = call(farm, method, request)
    event(code.name)
    assert code in DOCUMENTED, f"{method.name} answered {code.name}: {details}"
    assert_still_serving(farm)


@pytest.mark.parametrize("name", sorted(NEAR_VALID))
@FUZZ_SETTINGS
@given(data=st.data())
def test_near_valid_requests_are_answered_with_a_documented_status(
    farm: Farm, name: str, data: st.DataObject
) -> None:
    assert_documented(farm, SERVICE.methods_by_name[name], data.draw(NEAR_VALID[name], label="request"))


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
@FUZZ_SETTINGS
@given(data=st.data())
def test_any_request_gets_a_documented_status_and_the_controller_keeps_serving(
    farm: Farm, method: MethodDescriptor, data: st.DataObject
) -> None:
    assert_documented(farm, method, data.draw(messages(method.input_type), label="request"))


def test_a_job_over_the_message_limit_is_refused_and_the_controller_keeps_serving(farm: Farm) -> None:
    request = fpb.CreateJobRequest(job={"plugin": "demo", "frames": "1", "name": "x" * OVERSIZE})
    code, details = call_unary(farm, SERVICE.methods_by_name["CreateJob"], request)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, f"{code.name}: {details}"
    assert_still_serving(farm)


def all_jobs(farm: Farm) -> list[pb.Job]:
    jobs: list[pb.Job] = []
    token = ""
    while True:
        listing = farm.stub.ListJobs(fpb.ListJobsRequest(page_token=token), timeout=CALL_DEADLINE)
        jobs.extend(listing.jobs)
        token = listing.next_page_token
        if not token:
            return jobs


def test_every_job_the_fuzz_left_is_the_same_after_a_restart(farm: Farm) -> None:
    """Runs last: whatever the fuzz got accepted must be stored in a form the controller reads back."""
    before = all_jobs(farm)
    farm.restart()
    after = {job.id: job for job in all_jobs(farm)}
    assert sorted(after) == sorted(job.id for job in before), "the jobs listed after the restart differ"
    for job in before:
        assert after[job.id] == job, f"job {job.id} changed over the restart"
