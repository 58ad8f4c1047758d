"""Frames pushed to object storage, with real processes: a controller set up for an
S3-compatible server (moto's, its own process), an agent rendering a job submitted with
``--outputs s3://...``, and ``renderq outputs --urls`` handing out links that download
exactly the rendered bytes."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from ..s3_server import ACCESS_KEY
from ..waiting import eventually
from .conftest import Farm

pytestmark = pytest.mark.system


def test_outputs_pushed_to_a_bucket_download_through_presigned_urls(
    farm_factory: Callable[[], Farm], s3_endpoint: str
) -> None:
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=ACCESS_KEY,
    )  # fmt: skip
    s3.create_bucket(Bucket="renders")
    farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1")
    settings = ["--s3-endpoint", s3_endpoint, "--s3-access-key-id", ACCESS_KEY]
    farm.start_controller(*settings, "--s3-secret-access-key", ACCESS_KEY).wait_for_line(r"agent online")

    write = "printf 'frame %s of sh010' {frame} > {renders}/f{frame}.txt"
    flags = ["--outputs", "s3://renders/show/sh010/", "--param", "outputs={renders}/f{frame}.txt"]
    job = farm.cli.json("submit", "command", "--frames", "1-2", *flags, "--", "sh", "-c", write)
    assert job["output_destination"] == "s3://renders/show/sh010"
    farm.cli.run("wait", str(job["id"]), "--timeout", "60")

    def pushed() -> list[dict[str, Any]]:
        listed = farm.cli.json("outputs", str(job["id"]), "--urls", "--url-ttl", "10m")
        return [o for f in listed["frames"] for o in f["outputs"] if o["download_url"]]

    eventually("both outputs pushed to the bucket", lambda: len(pushed()) == 2)
    for output in pushed():
        name = output["path"].rsplit("/", 1)[1]
        assert output["object_url"] == f"s3://renders/show/sh010/job-{job['id']}/{name}", output
        with urllib.request.urlopen(output["download_url"], timeout=30) as answer:
            assert answer.read() == b"frame %s of sh010" % name[1:-4].encode()
    stored = s3.head_object(Bucket="renders", Key=f"show/sh010/job-{job['id']}/f1.txt")
    assert stored["Metadata"]["xxh3-128"] == next(
        o["xxh3_128"] for o in pushed() if o["path"].endswith("f1.txt")
    )
