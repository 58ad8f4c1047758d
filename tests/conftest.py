"""Fixtures every kind of test may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .s3_server import require_s3_server, s3_server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """One moto S3 server for a test module (each test makes buckets of its own); its URL."""
    require_s3_server()
    with s3_server() as url:
        yield url
