"""``renderq certs``: the farm CA and the node certificates that turn on TLS.

Run it once on the machine that keeps the farm CA (the controller's, usually): it makes
the CA and that machine's certificate. ``--node-dir`` issues a certificate for another
machine into a directory of its own, to copy there; the CA's key never goes with it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from renderq import tls
from renderq.cli.failures import UserError
from renderq.cli.output import print_document, rfc3339
from renderq.client.credentials import TLS_ENV
from renderq.xdg import data_home

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs

EPILOG = f"""\
examples:
  renderq certs                                         # CA and this machine's certificate
  renderq certs --host ctl.example.lan --host 10.0.0.5  # also names clients dial
  renderq certs --node-dir ./node7 --host node7         # for another machine: copy ./node7 there

then: renderq controller --tls DIR, renderq agent --tls DIR, and clients --tls DIR (or {TLS_ENV}=DIR);
a client needs only DIR/ca.pem.
"""


def register(verbs: Verbs) -> None:
    parser = verbs.add_parser(
        "certs",
        help="make the farm CA and node certificates for TLS",
        description="Create the farm CA in DIR if it is not there, then issue a certificate for this "
        "machine into DIR (again on every run, which renews it), or for another machine into --node-dir. "
        f"Every certificate names {tls.FARM_NAME}, localhost and the loopback addresses; this machine's "
        "also its hostname and FQDN.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"where the CA and this machine's certificate live (default {data_home() / 'tls'})",
    )
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="another DNS name or IP address the certificate names, one clients dial (repeatable)",
    )
    parser.add_argument(
        "--node-dir",
        type=Path,
        default=None,
        metavar="OUT",
        help="issue a certificate for another machine into OUT (ca.pem, node.pem, node.key) to copy there",
    )
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")
    parser.set_defaults(run=_certs)


def _certs(args: argparse.Namespace) -> int:
    directory: Path = (args.dir or data_home() / "tls").resolve()
    out: Path = args.node_dir.resolve() if args.node_dir else directory
    if args.node_dir is not None and out == directory:
        raise UserError("--node-dir must differ from --dir: leave it out to issue this machine's certificate")
    own = args.node_dir is None
    names = tls.node_names([*(tls.this_machine_names() if own else []), *args.host])
    try:
        created = tls.ensure_ca(directory)
        node = tls.issue_node(directory, out, names)
    except tls.TlsError as error:
        raise UserError(str(error)) from None
    except OSError as error:
        raise UserError(f"cannot write the certificates: {error}") from None
    report = _report(directory, created, node, own)
    if args.json:
        print_document(report)
    else:
        _print(report)
    return 0


def _report(directory: Path, created: bool, node: tls.NodeCertificate, own: bool) -> dict[str, Any]:
    tls_dir = node.cert.parent
    return {
        "ca": {"cert": str(directory / tls.CA_CERT), "key": str(directory / tls.CA_KEY), "created": created},
        "node": {
            "directory": str(tls_dir),
            "cert": str(node.cert),
            "key": str(node.key),
            "names": list(node.names),
            "not_after": rfc3339(node.not_after),
            "this_machine": own,
        },
        "commands": {
            "controller": f"renderq controller --tls {tls_dir}",
            "agent": f"renderq agent --tls {tls_dir}",
            "client": f"--tls {tls_dir} (or {TLS_ENV}={tls_dir})",
        },
    }


def _print(report: dict[str, Any]) -> None:
    ca, node, commands = report["ca"], report["node"], report["commands"]
    state = "created" if ca["created"] else "kept"
    print(f"farm CA {state}: {ca['cert']} (its key {ca['key']} stays on this machine)")
    whose = "this machine's" if node["this_machine"] else "another machine's"
    print(f"{whose} certificate: {node['cert']} (key {node['key']}), valid until {node['not_after'][:10]}")
    print(f"  names: {', '.join(node['names'])}")
    if node["this_machine"]:
        print("use it:")
        print(f"  {commands['controller']}")
        print(f"  {commands['agent']}")
        print(f"  renderq VERB {commands['client']}; a client needs only ca.pem")
    else:
        print(f"copy {node['directory']} to that machine (it holds no CA key) and start it with --tls COPY:")
        print("  renderq agent --tls COPY   (or renderq controller --tls COPY)")
