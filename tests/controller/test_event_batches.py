"""WatchEventBatches: the same events as WatchEvents, those ready at once in one message."""

from __future__ import annotations

import asyncio

from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc

from .conftest import DEADLINE
from .test_link_protocol import command_job


async def first_events(stream, count: int) -> list[fpb.WatchEventsResponse]:  # type: ignore[no-untyped-def]
    """``count`` events from a stream of single events or of batches."""
    events: list[fpb.WatchEventsResponse] = []
    try:
        async with asyncio.timeout(DEADLINE):
            async for message in stream:
                events.extend(message.events if hasattr(message, "events") else [message])
                if len(events) >= count:
                    break
    except TimeoutError:
        raise AssertionError(
            f"{count} events did not come within {DEADLINE:.0f} s; got {len(events)}"
        ) from None
    finally:
        stream.cancel()
    return events


async def test_batches_carry_the_events_of_watch_events_in_order(farm_stub: fgrpc.FarmServiceStub) -> None:
    # A first job: its events are published before CreateJob answers, so the cursor
    # below is past 0 (which would mean "from now on").
    await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))
    start = (await farm_stub.ListJobs(fpb.ListJobsRequest())).event_sequence
    jobs = [
        (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1-3", 1)))).job for _ in range(3)
    ]
    total = (await farm_stub.ListJobs(fpb.ListJobsRequest())).event_sequence - start
    assert start > 0 and total > 1

    singles = await first_events(farm_stub.WatchEvents(fpb.WatchEventsRequest(after_sequence=start)), total)
    sizes: list[int] = []
    stream = farm_stub.WatchEventBatches(fpb.WatchEventBatchesRequest(after_sequence=start))
    batched: list[fpb.WatchEventsResponse] = []
    async with asyncio.timeout(DEADLINE):
        async for batch in stream:
            sizes.append(len(batch.events))
            batched.extend(batch.events)
            if len(batched) >= total:
                break
    stream.cancel()
    assert [e.sequence for e in batched[:total]] == [e.sequence for e in singles[:total]]
    assert max(sizes) > 1, "events stored before the watch began come together"

    mine = farm_stub.WatchEventBatches(fpb.WatchEventBatchesRequest(after_sequence=start, job_id=jobs[1].id))
    filtered = await first_events(mine, 1)
    assert {e.job.id or e.task.job_id or e.frame.job_id for e in filtered} == {jobs[1].id}


async def test_jobs_only_leaves_out_tasks_frames_and_agents(farm_stub: fgrpc.FarmServiceStub) -> None:
    """A client waiting for a job's end asks for its job's own changes and nothing else."""
    await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))
    start = (await farm_stub.ListJobs(fpb.ListJobsRequest())).event_sequence
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1-3", 1)))).job
    await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1-2", 1)))
    total = (await farm_stub.ListJobs(fpb.ListJobsRequest())).event_sequence - start
    everything = await first_events(
        farm_stub.WatchEvents(fpb.WatchEventsRequest(after_sequence=start)), total
    )
    kinds = {e.WhichOneof("resource") for e in everything}
    assert {"job", "task", "frame"} <= kinds, kinds
    jobs_events = [e for e in everything if e.WhichOneof("resource") == "job"]

    only = farm_stub.WatchEvents(fpb.WatchEventsRequest(after_sequence=start, jobs_only=True))
    got = await first_events(only, len(jobs_events))
    assert [e.sequence for e in got] == [e.sequence for e in jobs_events]
    batches = farm_stub.WatchEventBatches(
        fpb.WatchEventBatchesRequest(after_sequence=start, job_id=job.id, jobs_only=True)
    )
    mine = await first_events(batches, 1)
    assert {(e.WhichOneof("resource"), e.job.id) for e in mine} == {("job", job.id)}
