"""Requests the fuzz found answered with INTERNAL or worse, kept as plain examples.

Each was a user's mistake that came back as INTERNAL, as a status without its
sentence, as a gigabyte built on the controller, or as a farm whose job listing could
no longer be sent; each now gets a clear answer naming the field.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from renderq.controller.errors import MAX_DETAILS
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from .conftest import Farm, demo_job
from .test_any_request_gets_a_documented_answer import CALL_DEADLINE, all_jobs


def refusal(call: Any, request: Any) -> str:
    """The sentence of an INVALID_ARGUMENT answer."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=CALL_DEADLINE)
    error: Any = info.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    return str(error.details())


def nan_parameter() -> pb.Job:
    job = demo_job()
    job.parameters["seconds_per_frame"] = float("nan")
    return job


def command_job(*argv: str) -> pb.Job:
    return demo_job(plugin="command", parameters={"argv": list(argv)})


@pytest.mark.parametrize(
    ("job", "field"),
    [
        (nan_parameter(), "parameters.seconds_per_frame"),
        (demo_job(task_timeout=duration_pb2.Duration(seconds=2**62)), "task_timeout"),
        (demo_job(frames="1-" + "9" * 5000), "frames"),
        (demo_job(frames="1-9223372036854775808"), "frames"),
        (demo_job(plugin="x" * 200_000), "plugin"),
        (demo_job(environment={"HUGE": "x" * (1 << 20)}), "job"),
        (demo_job(name="x" * 1001), "name"),
        (command_job("echo", "{frame:99999999999d}"), "parameters.argv"),
        (command_job("echo", "{frame:999999999d}"), "parameters.argv"),
    ],
    ids=["nan-parameter", "timeout-past-duration-range", "5000-digits", "frame-past-int64",
         "huge-plugin-name", "megabyte-job", "long-name", "memory-error-width", "gigabyte-width"],
)  # fmt: skip
def test_a_submission_the_fuzz_broke_is_refused_naming_the_field(farm: Farm, job: pb.Job, field: str) -> None:
    details = refusal(farm.stub.CreateJob, fpb.CreateJobRequest(job=job))
    assert details.startswith(f"{field}: "), details[:200]
    assert len(details) <= MAX_DETAILS + 1, "the sentence must fit in a status trailer"


def test_a_page_token_too_large_to_be_an_offset_is_invalid_argument(farm: Farm) -> None:
    details = refusal(farm.stub.ListJobs, fpb.ListJobsRequest(page_token="9" * 25))
    assert details.startswith("page_token: "), details


def test_renaming_a_job_to_a_huge_name_is_invalid_argument(farm: Farm) -> None:
    job = farm.stub.CreateJob(fpb.CreateJobRequest(job=demo_job()), timeout=CALL_DEADLINE).job
    request = fpb.UpdateJobRequest(
        job=pb.Job(id=job.id, name="y" * 5000), update_mask=field_mask_pb2.FieldMask(paths=["name"])
    )
    assert refusal(farm.stub.UpdateJob, request).startswith("name: ")


def test_jobs_too_large_for_one_message_are_listed_in_shorter_pages(farm: Farm) -> None:
    """70 jobs of almost a megabyte each: one page of 100 would not fit in 64 MiB."""
    bulky = demo_job(environment={"NOTES": "n" * 1_000_000})
    for _ in range(70):
        farm.stub.CreateJob(fpb.CreateJobRequest(job=bulky), timeout=CALL_DEADLINE)
    first = farm.stub.ListJobs(fpb.ListJobsRequest(page_size=100), timeout=CALL_DEADLINE)
    assert first.next_page_token, "a page cut short by its size must say where the next one starts"
    assert len(all_jobs(farm)) >= 70
