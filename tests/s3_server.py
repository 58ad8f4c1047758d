"""A real S3-compatible server for tests: moto's, run as its own process on a free port of
127.0.0.1, so boto3 speaks HTTP to it exactly as the controller would to a bucket.

``s3_server()`` starts one and stops it (the process waited for, none left behind);
``require_s3_server()`` first, so that a machine without moto skips the test and CI,
where moto must be installed, fails it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO

import pytest

from .system.conftest import free_port
from .system.harness import in_ci
from .waiting import eventually

START_DEADLINE = 60.0
"""Seconds moto may take to answer: it imports every AWS service it fakes."""
STOP_DEADLINE = 10.0
ACCESS_KEY = "testing"
"""The credentials the tests give boto3; moto accepts any unless told to check them."""
NEEDED = ("boto3", "moto", "flask", "werkzeug")
"""What ``pip install boto3 'moto[server]'`` brings that the tests import or run."""


def require_s3_server() -> None:
    """Skip the test when boto3 or moto's server is not installed; fail it with CI=true."""
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if not missing:
        return
    what = f"{', '.join(missing)} (pip install 'boto3>=1.34' 'moto[server]>=5')"
    if in_ci():
        pytest.fail(f"CI=true and {what} is missing: the object storage tests need a real S3 server")
    pytest.skip(f"{what} is missing")


@contextmanager
def s3_server(env: Mapping[str, str] | None = None) -> Iterator[str]:
    """moto's S3 server, answering; yields its URL (``http://127.0.0.1:PORT``). ``env``
    is added to its environment (``INITIAL_NO_AUTH_ACTION_COUNT=0`` makes it check
    credentials)."""
    url = f"http://127.0.0.1:{free_port()}"
    port = url.rsplit(":", 1)[1]
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "--host", "127.0.0.1", "--port", port],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            eventually(
                f"moto's S3 server answers at {url}",
                lambda: _answers(url, process, output),
                timeout=START_DEADLINE,
            )
            yield url
        finally:
            _stop(process)


def _answers(url: str, process: subprocess.Popen[bytes], output: IO[bytes]) -> bool:
    """Whether the server answers HTTP at all; an AssertionError with what it printed when
    it has exited (its port taken, moto broken), rather than waiting out the deadline."""
    if process.poll() is not None:
        output.seek(0)
        printed = output.read().decode(errors="replace")[-2000:]
        raise AssertionError(
            f"moto's S3 server exited with {process.returncode} before answering:\n{printed}"
        )
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (moto exits at once on it), SIGKILL if it lingers; always reaped."""
    process.terminate()
    try:
        process.wait(STOP_DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
