"""Tokens, roles and the audit log, through a real controller's FarmService."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import duckdb
import grpc
import pytest

from renderq import tokens
from renderq.controller.auth import CHANGES, READS
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import ScriptedAgent, farm_client, start_controller, stop_controller
from .test_api import job_with, refused


@pytest.fixture
async def controller(tmp_path: Path, scripted_agent: ScriptedAgent) -> AsyncIterator[int]:
    """The port of a controller whose data dir is ``tmp_path``."""
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    yield port
    await stop_controller(task)


async def make_token(data_dir: Path, port: int, name: str, role: int) -> str:
    async with farm_client(data_dir, port) as admin:
        return (await admin.CreateToken(fpb.CreateTokenRequest(name=name, role=role))).secret  # type: ignore[arg-type]


def test_every_method_of_the_service_has_a_role() -> None:
    methods = {m.name for m in fpb.DESCRIPTOR.services_by_name["FarmService"].methods}
    assert methods == set(READS) | set(CHANGES)
    assert not set(READS) & set(CHANGES)


async def test_a_call_without_a_token_is_unauthenticated_and_says_how_to_get_one(
    tmp_path: Path, controller: int
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{controller}") as channel:
        stub = fgrpc.FarmServiceStub(channel)
        details = await refused(stub.ListJobs(fpb.ListJobsRequest()), grpc.StatusCode.UNAUTHENTICATED)
        assert "--token" in details and "RENDERQ_TOKEN" in details
        stream = stub.WatchEvents(fpb.WatchEventsRequest())
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stream.read()
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    async with farm_client(tmp_path, controller, token="rqt_not-a-real-one") as stub:
        details = await refused(stub.ListJobs(fpb.ListJobsRequest()), grpc.StatusCode.UNAUTHENTICATED)
        assert "unknown or revoked" in details


async def test_each_role_may_do_its_own_calls_and_no_more(tmp_path: Path, controller: int) -> None:
    viewer = await make_token(tmp_path, controller, "wall-display", pb.ROLE_VIEWER)
    operator = await make_token(tmp_path, controller, "artist", pb.ROLE_OPERATOR)
    async with farm_client(tmp_path, controller, token=viewer) as stub:
        await stub.ListJobs(fpb.ListJobsRequest())
        assert (await stub.GetCaller(fpb.GetCallerRequest())).name == "wall-display"
        details = await refused(
            stub.CreateJob(fpb.CreateJobRequest(job=job_with())), grpc.StatusCode.PERMISSION_DENIED
        )
        assert details == "CreateJob needs the operator role; token 'wall-display' (" + details.split("(")[1]
        assert "has the viewer role" in details
        upload = await refused(stub.UploadBlob(_one_upload()), grpc.StatusCode.PERMISSION_DENIED)
        assert "UploadBlob needs the operator role" in upload
    async with farm_client(tmp_path, controller, token=operator) as stub:
        job = (await stub.CreateJob(fpb.CreateJobRequest(job=job_with()))).job
        await stub.CancelJob(fpb.CancelJobRequest(job_id=job.id))
        details = await refused(
            stub.DrainAgent(fpb.DrainAgentRequest(agent_id="scripted-1")), grpc.StatusCode.PERMISSION_DENIED
        )
        assert "needs the admin role" in details
        await refused(stub.ListTokens(fpb.ListTokensRequest()), grpc.StatusCode.PERMISSION_DENIED)


async def test_a_revoked_token_stops_working_at_once(tmp_path: Path, controller: int) -> None:
    secret = await make_token(tmp_path, controller, "leaver", pb.ROLE_OPERATOR)
    async with farm_client(tmp_path, controller, token=secret) as stub:
        caller = await stub.GetCaller(fpb.GetCallerRequest())
        async with farm_client(tmp_path, controller) as admin:
            revoked = (await admin.RevokeToken(fpb.RevokeTokenRequest(token_id=caller.token_id))).token
            assert revoked.HasField("revoke_time")
            again = admin.RevokeToken(fpb.RevokeTokenRequest(token_id=caller.token_id))
            assert "already revoked" in await refused(again, grpc.StatusCode.FAILED_PRECONDITION)
            missing = admin.RevokeToken(fpb.RevokeTokenRequest(token_id="nope"))
            assert "renderq token list" in await refused(missing, grpc.StatusCode.NOT_FOUND)
        await refused(stub.ListJobs(fpb.ListJobsRequest()), grpc.StatusCode.UNAUTHENTICATED)


async def test_a_token_needs_a_name_and_a_role(tmp_path: Path, controller: int) -> None:
    async with farm_client(tmp_path, controller) as admin:
        nameless = admin.CreateToken(fpb.CreateTokenRequest(role=pb.ROLE_VIEWER))
        assert (await refused(nameless, grpc.StatusCode.INVALID_ARGUMENT)).startswith("name: ")
        roleless = admin.CreateToken(fpb.CreateTokenRequest(name="x"))
        assert (await refused(roleless, grpc.StatusCode.INVALID_ARGUMENT)).startswith("role: ")


async def test_state_changing_calls_are_audited_newest_first(tmp_path: Path, controller: int) -> None:
    operator = await make_token(tmp_path, controller, "artist", pb.ROLE_OPERATOR)
    viewer = await make_token(tmp_path, controller, "intern", pb.ROLE_VIEWER)
    async with farm_client(tmp_path, controller, token=operator) as stub:
        job = (await stub.CreateJob(fpb.CreateJobRequest(job=job_with()))).job
        await stub.SuspendJob(fpb.SuspendJobRequest(job_id=job.id))
        await refused(
            stub.CreateJob(fpb.CreateJobRequest(job=job_with(frames="1-abc"))),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        await stub.ListJobs(fpb.ListJobsRequest())  # a read: not audited
    async with farm_client(tmp_path, controller, token=viewer) as stub:
        await refused(stub.CancelJob(fpb.CancelJobRequest(job_id=job.id)), grpc.StatusCode.PERMISSION_DENIED)
    async with farm_client(tmp_path, controller) as admin:
        records = list((await admin.ListAuditRecords(fpb.ListAuditRecordsRequest())).records)
        seen = [(r.caller, r.method, r.target, r.outcome) for r in records[:4]]
        assert seen == [
            ("intern", "CancelJob", f"job {job.id}", "PERMISSION_DENIED"),
            ("artist", "CreateJob", "", "INVALID_ARGUMENT"),
            ("artist", "SuspendJob", f"job {job.id}", "OK"),
            ("artist", "CreateJob", f"job {job.id}", "OK"),
        ]
        assert records[1].error.startswith("frames: ")
        assert "1-abc" in records[1].request
        assert records[3].peer and records[3].role == pb.ROLE_OPERATOR
        # Token creation is audited too (by the local admin), and the pages join up.
        assert [r.method for r in records[4:]] == ["CreateToken", "CreateToken"]
        first = await admin.ListAuditRecords(fpb.ListAuditRecordsRequest(page_size=4))
        rest = await admin.ListAuditRecords(fpb.ListAuditRecordsRequest(page_token=first.next_page_token))
        assert [r.sequence for r in [*first.records, *rest.records]] == [r.sequence for r in records]
        assert rest.next_page_token == ""


async def test_the_local_admin_token_is_private_kept_and_replaced_when_lost(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    await stop_controller(task)
    path = tmp_path / tokens.LOCAL_FILE
    first = tokens.read_local(tmp_path)
    assert first and stat.S_IMODE(path.stat().st_mode) == 0o600
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    await stop_controller(task)
    assert tokens.read_local(tmp_path) == first, "a restart keeps the local token"
    path.unlink()
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    try:
        second = tokens.read_local(tmp_path)
        assert second and second != first
        async with farm_client(tmp_path, port, token=first) as stub:
            await refused(stub.ListJobs(fpb.ListJobsRequest()), grpc.StatusCode.UNAUTHENTICATED)
        async with farm_client(tmp_path, port) as stub:
            assert (await stub.GetCaller(fpb.GetCallerRequest())).role == pb.ROLE_ADMIN
    finally:
        await stop_controller(task)
    with duckdb.connect(str(tmp_path / "renderq.duckdb"), read_only=True) as db:
        stored = db.execute("SELECT digest FROM tokens").fetchall()
    assert {tokens.digest(first), tokens.digest(second)} <= {d for (d,) in stored}
    assert not any(first in d or second in d for (d,) in stored), "tokens are stored hashed"


async def _one_upload() -> AsyncIterator[fpb.UploadBlobRequest]:
    yield fpb.UploadBlobRequest(blob=pb.BlobRef(xxh3_128="0" * 32, size_bytes=1), data=b"x")
