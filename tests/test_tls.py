"""The farm CA, node certificates, `renderq certs` and what real TLS handshakes report."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import grpc
import pytest
from cryptography import x509

from renderq import tls
from renderq.cli.main import main
from renderq.client import errors
from renderq.client.channel import open_channel
from renderq.client.credentials import Credentials
from renderq.controller.farm import Farm
from renderq.controller.links import LinkManager
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc

DEADLINE = 20.0


def make_farm(directory: Path, *hosts: str) -> Path:
    """A CA and a node certificate in ``directory``, as `renderq certs` makes them."""
    tls.ensure_ca(directory)
    tls.issue_node(directory, directory, tls.node_names(hosts))
    return directory


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def run_certs(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(["certs", *args])
    return int(exit_info.value.code or 0)


def test_the_node_certificate_is_signed_by_the_farm_ca_and_names_the_farm(tmp_path: Path) -> None:
    assert tls.ensure_ca(tmp_path)
    assert not tls.ensure_ca(tmp_path), "a second run keeps the CA"
    node = tls.issue_node(tmp_path, tmp_path, tls.node_names(["render7.lan", "10.0.0.7"]))

    ca = certificate(tmp_path / tls.CA_CERT)
    cert = certificate(node.cert)
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) >= {tls.FARM_NAME, "localhost", "render7.lan"}
    assert set(sans.get_values_for_type(x509.IPAddress)) >= {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.0.0.7"),
    }


def test_private_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    make_farm(tmp_path)
    for name in (tls.CA_KEY, tls.NODE_KEY):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_certs_names_this_machine_and_the_given_hosts(tmp_path: Path) -> None:
    assert run_certs("--dir", str(tmp_path), "--host", "ctl.example.lan") == 0
    sans = certificate(tmp_path / tls.NODE_CERT).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    names = set(sans.value.get_values_for_type(x509.DNSName))
    assert {tls.FARM_NAME, "localhost", "ctl.example.lan", *tls.this_machine_names()} <= names


def test_a_certificate_for_another_node_never_carries_the_ca_key(tmp_path: Path) -> None:
    ca_dir, out = tmp_path / "ca", tmp_path / "node7"
    assert run_certs("--dir", str(ca_dir), "--node-dir", str(out), "--host", "node7") == 0
    assert sorted(p.name for p in out.iterdir()) == [tls.CA_CERT, tls.NODE_KEY, tls.NODE_CERT]
    assert (out / tls.CA_CERT).read_bytes() == (ca_dir / tls.CA_CERT).read_bytes()
    assert stat.S_IMODE((out / tls.NODE_KEY).stat().st_mode) == 0o600
    assert not (ca_dir / tls.NODE_CERT).exists(), "--node-dir issues for the other node only"
    names = certificate(out / tls.NODE_CERT).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    dns = names.value.get_values_for_type(x509.DNSName)
    assert "node7" in dns
    assert not set(tls.this_machine_names()) & set(dns) - {"localhost"}, "not this machine's names"
    tls.server_credentials(out)


def test_certs_in_a_node_directory_says_where_certificates_are_issued(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls.ensure_ca(tmp_path / "ca")
    tls.issue_node(tmp_path / "ca", tmp_path / "node", tls.node_names([]))
    assert run_certs("--dir", str(tmp_path / "node")) == 2
    assert "--node-dir" in capsys.readouterr().err
    assert not (tmp_path / "node" / tls.CA_KEY).exists()


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        (tls.CA_CERT, None, "no farm CA certificate at .*ca.pem: .*`renderq certs --dir"),
        (tls.NODE_CERT, None, "no node certificate at .*node.pem: .*`renderq certs --node-dir`"),
        (tls.CA_CERT, "hello", "ca.pem is not a PEM farm CA certificate"),
        (tls.NODE_KEY, "x", "node.key is not a PEM node key"),
    ],
)
def test_an_unusable_tls_directory_names_the_file_and_what_to_do(
    tmp_path: Path, name: str, content: str | None, words: str
) -> None:
    make_farm(tmp_path)
    if content is None:
        (tmp_path / name).unlink()
    else:
        (tmp_path / name).write_text(content)
    with pytest.raises(tls.TlsError, match=words):
        tls.server_credentials(tmp_path)
    if name == tls.CA_CERT:
        with pytest.raises(tls.TlsError, match=words):
            tls.channel_credentials(tmp_path)


def test_files_from_different_runs_are_refused_at_start(tmp_path: Path) -> None:
    make_farm(tmp_path / "a")
    make_farm(tmp_path / "b")
    (tmp_path / "a" / tls.NODE_KEY).write_bytes((tmp_path / "b" / tls.NODE_KEY).read_bytes())
    with pytest.raises(tls.TlsError, match="is not the key of"):
        tls.server_credentials(tmp_path / "a")
    (tmp_path / "b" / tls.CA_CERT).write_bytes((tmp_path / "a" / tls.CA_CERT).read_bytes())
    with pytest.raises(tls.TlsError, match="was not issued by"):
        tls.server_credentials(tmp_path / "b")


async def test_a_client_with_an_unusable_tls_directory_gets_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidArgument, match="renderq certs"):
        open_channel("127.0.0.1:1", Credentials(tls_dir=tmp_path))


class _Api(fgrpc.FarmServiceServicer):
    async def ListJobs(self, request: fpb.ListJobsRequest, context: object) -> fpb.ListJobsResponse:
        return fpb.ListJobsResponse(event_sequence=7)


def _api() -> fgrpc.FarmServiceServicer:
    return _Api()  # type: ignore[abstract]  # a fake: it serves only the calls these tests make


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[str]:
    """A FarmService on loopback serving the node certificate of the farm in tmp/farm."""
    server = grpc.aio.server()
    fgrpc.add_FarmServiceServicer_to_server(_api(), server)
    port = server.add_secure_port("127.0.0.1:0", tls.server_credentials(make_farm(tmp_path / "farm")))
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def call(address: str, tls_dir: Path | None) -> fpb.ListJobsResponse:
    async with open_channel(address, Credentials(tls_dir=tls_dir)) as channel:
        stub = fgrpc.FarmServiceStub(channel)
        return await stub.ListJobs(fpb.ListJobsRequest(), timeout=DEADLINE)


async def test_a_client_trusting_the_farm_ca_talks_to_the_farm(tls_server: str, tmp_path: Path) -> None:
    assert (await call(tls_server, tmp_path / "farm")).event_sequence == 7


async def test_a_certificate_from_another_farm_is_refused(tls_server: str, tmp_path: Path) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(tls_server, make_farm(tmp_path / "other"))
    assert tls.handshake_failure(raised.value.details() or "") is tls.HandshakeFailure.UNTRUSTED
    error = errors.from_rpc_error(raised.value, tls_server)
    assert isinstance(error, errors.TlsFailed)
    assert not error.retryable
    assert error.message.startswith(f"the TLS handshake with the controller at {tls_server} failed:")
    assert "ca.pem" in error.message


async def test_an_expired_certificate_is_named_at_start_and_in_the_handshake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=tls.NODE_DAYS + 10)
    monkeypatch.setattr(tls, "_now", lambda: issued_at)
    farm = make_farm(tmp_path)
    monkeypatch.undo()
    with pytest.raises(tls.TlsError, match=r"node\.pem expired on .*renderq certs"):
        tls.server_credentials(farm)
    server = grpc.aio.server()
    fgrpc.add_FarmServiceServicer_to_server(_api(), server)
    pair = ((farm / tls.NODE_KEY).read_bytes(), (farm / tls.NODE_CERT).read_bytes())
    address = f"127.0.0.1:{server.add_secure_port('127.0.0.1:0', grpc.ssl_server_credentials([pair]))}"
    await server.start()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(address, farm)
    finally:
        await server.stop(None)
    assert tls.handshake_failure(raised.value.details() or "") is tls.HandshakeFailure.EXPIRED


async def test_a_client_without_tls_is_told_to_pass_tls(tls_server: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(tls_server, None)
    error = errors.from_rpc_error(raised.value, tls_server)
    assert isinstance(error, errors.Unavailable)
    assert "TLS" in error.message
    assert "--tls DIR" in error.message


async def test_a_tls_client_against_a_plain_controller_is_told_so(tmp_path: Path) -> None:
    server = grpc.aio.server()
    fgrpc.add_FarmServiceServicer_to_server(_api(), server)
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    await server.start()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(address, make_farm(tmp_path / "farm"))
    finally:
        await server.stop(None)
    error = errors.from_rpc_error(raised.value, address)
    assert isinstance(error, errors.TlsFailed)
    assert "does not serve TLS" in error.message


async def test_the_controller_warns_once_when_an_agent_has_another_farms_certificate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = grpc.aio.server()
    port = agent.add_secure_port("127.0.0.1:0", tls.server_credentials(make_farm(tmp_path / "other")))
    await agent.start()
    caplog.set_level(logging.DEBUG, logger="renderq.controller.links")
    # The farm is only reached after a hello, which a refused handshake never gets to.
    links = LinkManager(cast(Farm, None), bytes(32), make_farm(tmp_path / "farm"))
    links.dial([f"127.0.0.1:{port}"])
    try:
        async with asyncio.timeout(DEADLINE):
            while sum("link failed" in r.getMessage() for r in caplog.records) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        await links.close()
        await agent.stop(None)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "cannot link to agent" in warnings[0]
    assert "not signed by this farm's CA" in warnings[0]


@pytest.mark.parametrize(
    ("details", "kind", "words"),
    [
        (
            "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.0.5:7420: Custom "
            "verification check failed with error: UNAUTHENTICATED: Hostname Verification Check failed.",
            errors.TlsFailed,
            "does not name the address .*`renderq certs --host 10.0.0.5`",
        ),
        (
            "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.0.5:7420: Tls handshake "
            "failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:1000007d:SSL routines:"
            "OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: certificate has expired",
            errors.TlsFailed,
            "expired or is not valid yet; renew it",
        ),
        (
            "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.0.5:7420: "
            "Failed to connect to remote host: Connection refused",
            errors.Unavailable,
            "^cannot reach the controller at 10.0.0.5:7420: failed to connect",
        ),
    ],
    ids=["wrong-name", "expired", "refused-is-not-tls"],
)
def test_grpc_details_become_a_sentence(details: str, kind: type[errors.CallFailed], words: str) -> None:
    error = errors.from_rpc_error(
        grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), details),
        "10.0.0.5:7420",
    )
    assert type(error) is kind
    assert re.search(words, error.message), error.message
