"""UpdateJob changes a job's scheduling settings in flight, checked as at submit."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
from google.protobuf import field_mask_pb2

from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import until_agent_online
from .test_api import job_with, refused
from .test_limits import set_limit


def update(stub: fgrpc.FarmServiceStub, job: pb.Job, *paths: str) -> Awaitable[fpb.UpdateJobResponse]:
    request = fpb.UpdateJobRequest(job=job, update_mask=field_mask_pb2.FieldMask(paths=paths))
    return stub.UpdateJob(request)


async def test_pool_requirements_and_limits_change_in_flight_and_are_checked(
    farm_stub: fgrpc.FarmServiceStub,
) -> None:
    await until_agent_online(farm_stub)
    created = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=job_with(frames="1-200")))).job
    await set_limit(farm_stub, "maya", 4)
    change = pb.Job(id=created.id, limits=["maya"], max_agent_failures=5)
    change.requirements.min_cpu_cores = 2
    changed = (await update(farm_stub, change, "limits", "requirements", "max_agent_failures")).job
    assert (list(changed.limits), changed.requirements.min_cpu_cores, changed.max_agent_failures) == (
        ["maya"],
        2,
        5,
    )

    needy = pb.Job(id=created.id)
    needy.requirements.min_cpu_cores = 64
    details = await refused(update(farm_stub, needy, "requirements"), grpc.StatusCode.FAILED_PRECONDITION)
    assert "64 CPU cores" in details
    details = await refused(
        update(farm_stub, pb.Job(id=created.id, limits=["nuke"]), "limits"), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert details.startswith("limits: there is no limit 'nuke'")
    details = await refused(
        update(farm_stub, pb.Job(id=created.id), "frames"), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert "'frames' cannot be changed" in details

    await farm_stub.CancelJob(fpb.CancelJobRequest(job_id=created.id))
    details = await refused(
        update(farm_stub, pb.Job(id=created.id, pool="gpu"), "pool"), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "has ended" in details
    renamed = (await update(farm_stub, pb.Job(id=created.id, name="kept"), "name")).job
    assert renamed.name == "kept", "a name still changes on an ended job"
