"""Fixtures every kind of test may use."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .s3_server import require_s3_server, s3_server

# The suite runs on pytest-xdist's workers (scripts/test), which are given COLUMNS=80 and
# LINES=24; the command-line tools the tests start would wrap their tables to that width.
# Every test sees the environment of a plain run, where output to a pipe is not wrapped.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """One moto S3 server for a test module (each test makes buckets of its own); its URL."""
    require_s3_server()
    with s3_server() as url:
        yield url
