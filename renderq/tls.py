"""TLS for the operator API and the agent links: the farm CA and the node certificates.

The farm key proves that a peer belongs to the farm but leaves the traffic readable;
TLS encrypts it and lets a client check whom it talks to. Every file lives in one
directory (``renderq certs`` fills it; ``--tls DIR`` points a service or a client at it):

- ``ca.pem``: the farm CA's certificate. Clients and the controller trust it and nothing
  else, so a certificate from another farm (or a public CA) is refused.
- ``ca.key``: the CA's private key, only on the machine that issues certificates
  (mode 0600). It never goes into a directory made for another node.
- ``node.pem`` and ``node.key``: this node's certificate and key (mode 0600), which the
  controller and the agents serve.

Every node certificate names :data:`FARM_NAME`. The controller checks an agent's
certificate against that name, not against the agent's address: agents are found by
IP over mDNS, and those IPs change. Clients check the controller against the address
they dial, so a controller's certificate must name the host or IP that clients use
(``renderq certs --host``).
"""

from __future__ import annotations

import datetime
import enum
import ipaddress
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from renderq.private_files import write_private

TLS_ENV = "RENDERQ_TLS"
"""The variable every renderq command reads for its --tls folder."""

FARM_NAME = "renderq.farm"
"""The DNS name in every renderq certificate; the controller dials agents by this name."""
CA_CERT = "ca.pem"
CA_KEY = "ca.key"
NODE_CERT = "node.pem"
NODE_KEY = "node.key"

CA_DAYS = 3650
NODE_DAYS = 825
"""About two years and a quarter; `renderq certs` renews a certificate in place."""
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

T = TypeVar("T")
_SAME_RUN = "copy the whole directory that one `renderq certs` run wrote"

# P-256: every TLS stack grpc ships with (BoringSSL, OpenSSL) supports it.
_CURVE = ec.SECP256R1


class TlsError(ValueError):
    """A TLS directory that cannot be used; the message names the file and what to do."""


@dataclass(frozen=True)
class NodeCertificate:
    """What ``issue_node`` wrote, for the operator to read back."""

    cert: Path
    key: Path
    names: tuple[str, ...]
    not_after: datetime.datetime


def this_machine_names() -> list[str]:
    """The hostname and FQDN of this machine, the names clients are most likely to dial."""
    return [socket.gethostname(), socket.getfqdn()]


def node_names(hosts: Iterable[str]) -> tuple[str, ...]:
    """The subject alternative names of a node certificate, without duplicates."""
    names = [FARM_NAME, *LOOPBACK_NAMES, *hosts]
    return tuple(dict.fromkeys(name.strip() for name in names if name.strip()))


def ensure_ca(directory: Path) -> bool:
    """Create the farm CA in ``directory`` unless it is there; True when it was created.

    Raises TlsError when only half of the CA is there: a directory with ``ca.pem`` but
    no ``ca.key`` belongs to a node, and certificates are issued where the key is.
    """
    cert, key = directory / CA_CERT, directory / CA_KEY
    if cert.exists() and key.exists():
        _load_ca(directory)
        return False
    if cert.exists():
        raise TlsError(
            f"{directory} has the farm CA's certificate but not its key ({CA_KEY}): it is a node's "
            f"directory; issue certificates with `renderq certs --node-dir` where {CA_KEY} is"
        )
    if key.exists():
        raise TlsError(
            f"{key} has no {CA_CERT} beside it: restore {CA_CERT}, or remove {key} to start a new CA"
        )
    private = ec.generate_private_key(_CURVE())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "renderq"),
            # Two farms' CAs never share a name, so an error can tell them apart.
            x509.NameAttribute(NameOID.COMMON_NAME, f"renderq farm CA {secrets.token_hex(4)}"),
        ]
    )
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
        .sign(private, hashes.SHA256())
    )
    write_private(key, _private_pem(private))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return True


def issue_node(ca_dir: Path, out_dir: Path, names: tuple[str, ...]) -> NodeCertificate:
    """Sign a certificate for ``names`` with the CA in ``ca_dir`` and write it, its key and
    the CA's certificate (never its key) to ``out_dir``."""
    ca_cert, ca_key = _load_ca(ca_dir)
    if out_dir.resolve() != ca_dir.resolve() and (out_dir / CA_KEY).exists():
        raise TlsError(f"{out_dir} holds a CA key ({CA_KEY}): give --node-dir a directory of its own")
    private = ec.generate_private_key(_CURVE())
    now = _now()
    not_after = now + datetime.timedelta(days=NODE_DAYS)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name(names))]))
        .issuer_name(ca_cert.subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    if out_dir.resolve() != ca_dir.resolve():
        (out_dir / CA_CERT).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    write_private(out_dir / NODE_KEY, _private_pem(private))
    (out_dir / NODE_CERT).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return NodeCertificate(out_dir / NODE_CERT, out_dir / NODE_KEY, names, not_after)


def server_credentials(directory: Path) -> grpc.ServerCredentials:
    """Serve with this node's certificate; clients need none (they show a token or the
    farm key instead)."""
    cert_pem, cert = _read(directory / NODE_CERT, "node certificate", x509.load_pem_x509_certificate)
    key_pem, key = _read(directory / NODE_KEY, "node key", _load_key)
    _, ca = _read(directory / CA_CERT, "farm CA certificate", x509.load_pem_x509_certificate)
    # Files copied from different runs would only show up as handshakes failing on peers.
    if cert.public_key() != key.public_key():
        raise TlsError(f"{directory / NODE_KEY} is not the key of {directory / NODE_CERT}: {_SAME_RUN}")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise TlsError(
            f"{directory / NODE_CERT} was not issued by {directory / CA_CERT}: {_SAME_RUN}"
        ) from None
    if cert.not_valid_after_utc < _now():
        raise TlsError(
            f"{directory / NODE_CERT} expired on {cert.not_valid_after_utc:%Y-%m-%d}: "
            "renew it with `renderq certs` where the farm CA is"
        )
    return grpc.ssl_server_credentials([(key_pem, cert_pem)])


def channel_credentials(directory: Path) -> grpc.ChannelCredentials:
    """Credentials that trust only the farm's CA in ``directory``."""
    ca_pem, _ = _read(directory / CA_CERT, "farm CA certificate", x509.load_pem_x509_certificate)
    return grpc.ssl_channel_credentials(root_certificates=ca_pem)


class HandshakeFailure(enum.Enum):
    """Why a connection failed while it was being set up, as far as TLS can tell; each
    side phrases what to do about it."""

    UNTRUSTED = "its certificate is not signed by this farm's CA"
    EXPIRED = "its certificate has expired or is not valid yet"
    WRONG_NAME = "its certificate does not name the address it was dialled at"
    NOT_TLS = "it does not serve TLS"
    CLOSED = "it closed the connection during the handshake, as a TLS server does to a peer without TLS"
    OTHER = "the TLS handshake failed"


# gRPC reports the handshake only in the status details of a failed call.
_HANDSHAKE_MARKERS = (
    ("certificate has expired", HandshakeFailure.EXPIRED),
    ("certificate is not yet valid", HandshakeFailure.EXPIRED),
    ("CERTIFICATE_VERIFY_FAILED", HandshakeFailure.UNTRUSTED),
    ("Hostname Verification", HandshakeFailure.WRONG_NAME),
    ("WRONG_VERSION_NUMBER", HandshakeFailure.NOT_TLS),
    ("andshake failed", HandshakeFailure.OTHER),
)


def handshake_failure(details: str) -> HandshakeFailure | None:
    """What went wrong in the TLS handshake, from a failed call's status details; None
    when the call failed for another reason."""
    for marker, failure in _HANDSHAKE_MARKERS:
        if marker in details:
            return failure
    # A connection closed before HTTP/2 started: a dead peer refuses it instead.
    if details.startswith("failed to connect") and "Socket closed" in details:
        return HandshakeFailure.CLOSED
    return None


def _read(path: Path, what: str, parse: Callable[[bytes], T]) -> tuple[bytes, T]:
    """A PEM file's bytes and what they parse to, so a bad file is named at start and not
    as a handshake that fails later for no visible reason."""
    fix = (
        f"on the machine that keeps the farm CA, `renderq certs --dir {path.parent}` makes it; "
        "elsewhere, copy in a directory made there by `renderq certs --node-dir`"
    )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TlsError(f"no {what} at {path}: {fix}") from None
    except OSError as exc:
        raise TlsError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    try:
        return data, parse(data)
    except ValueError:
        raise TlsError(f"{path} is not a PEM {what}: {fix}") from None


def _load_key(data: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC key")
    return key


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    _, cert = _read(directory / CA_CERT, "farm CA certificate", x509.load_pem_x509_certificate)
    _, key = _read(directory / CA_KEY, "farm CA key", _load_key)
    return cert, key


def _common_name(names: tuple[str, ...]) -> str:
    """The node's own name when it has one, for people reading the certificate."""
    return next((n for n in names if n != FARM_NAME and n not in LOOPBACK_NAMES), FARM_NAME)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _key_usage(signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
