"""Output files pushed to object storage: destinations and keys as pure functions, then
real pushes and presigned URLs against moto's S3 server run as its own process."""

from __future__ import annotations

import argparse
import asyncio
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import xxhash

from renderq import settings
from renderq.controller.config import SCHEMA, ControllerConfig
from renderq.controller.errors import InvalidField
from renderq.controller.object_storage import (
    MISSING_BOTO3,
    ObjectStorage,
    ObjectStorageError,
    object_key,
    parse_destination,
)

from ..s3_server import ACCESS_KEY, require_s3_server, s3_server
from ..system.conftest import free_port


def storage_at(endpoint: str, tmp_path: Path, secret: str = ACCESS_KEY) -> ObjectStorage:
    config = ControllerConfig(
        data_dir=tmp_path,
        s3_endpoint=endpoint,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=secret,
    )
    return ObjectStorage(config)


def s3_client(endpoint: str) -> Any:
    """The test's own boto3 client, to make buckets and read objects back."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=ACCESS_KEY,
    )


def new_bucket(endpoint: str) -> str:
    name = f"renders-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def output_file(tmp_path: Path, content: bytes = b"frame 12 pixels " * 4096) -> tuple[Path, str]:
    """A file as the controller's store holds it, and its xxh3-128."""
    path = tmp_path / "frame_0012.exr"
    path.write_bytes(content)
    return path, xxhash.xxh3_128_hexdigest(content)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("controller", None),
        ("keep", None),
        ("s3://renders", ("renders", "")),
        ("s3://renders/", ("renders", "")),
        ("s3://my.renders-2/shots/sh010/", ("my.renders-2", "shots/sh010")),
        ("s3://abc//film/reel 1//", ("abc", "film/reel 1")),
        ("s3://renders/été", ("renders", "été")),
    ],
)
def test_destinations(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_destination(text) == expected


BUCKET_RULES = (
    "3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, "
    "no two dots in a row, not an IP address"
)


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (
            "S3://renders",
            '\'S3://renders\' is not a destination: give "controller", "keep" or s3://BUCKET/PREFIX',
        ),
        (
            "/mnt/share",
            '\'/mnt/share\' is not a destination: give "controller", "keep" or s3://BUCKET/PREFIX',
        ),
        ("s3://", "'s3://' names no bucket: give s3://BUCKET/PREFIX"),
        ("s3:///shots", "'s3:///shots' names no bucket: give s3://BUCKET/PREFIX"),
        ("s3://Renders/x", f"'Renders' in 's3://Renders/x' is not an S3 bucket name: {BUCKET_RULES}"),
        ("s3://ab", f"'ab' in 's3://ab' is not an S3 bucket name: {BUCKET_RULES}"),
        ("s3://" + "a" * 64, f"'{'a' * 64}' in 's3://{'a' * 64}' is not an S3 bucket name: {BUCKET_RULES}"),
        ("s3://-renders", f"'-renders' in 's3://-renders' is not an S3 bucket name: {BUCKET_RULES}"),
        ("s3://my..renders", f"'my..renders' in 's3://my..renders' is not an S3 bucket name: {BUCKET_RULES}"),
        ("s3://10.0.0.1/x", f"'10.0.0.1' in 's3://10.0.0.1/x' is not an S3 bucket name: {BUCKET_RULES}"),
        ("s3://ren_ders", f"'ren_ders' in 's3://ren_ders' is not an S3 bucket name: {BUCKET_RULES}"),
        (
            "s3://renders/../etc",
            'the prefix in \'s3://renders/../etc\' has an empty, "." or ".." folder name',
        ),
        ("s3://renders/a/./b", 'the prefix in \'s3://renders/a/./b\' has an empty, "." or ".." folder name'),
        ("s3://renders/a//b", 'the prefix in \'s3://renders/a//b\' has an empty, "." or ".." folder name'),
        (
            "s3://renders/a\\b",
            "the prefix in 's3://renders/a\\\\b' has a backslash: S3 folders are separated by /",
        ),
        ("s3://renders/a\x00b", "the prefix in 's3://renders/a\\x00b' has a control character"),
        ("s3://renders/a\nb", "the prefix in 's3://renders/a\\nb' has a control character"),
        ("s3://renders/a\x85b", "the prefix in 's3://renders/a\\x85b' has a control character"),
        ("s3://renders/" + "p" * 513, f"the prefix in 's3://renders/{'p' * 513}' is longer than 512 bytes"),
    ],
)
def test_a_bad_destination_is_a_sentence_naming_it(text: str, sentence: str) -> None:
    with pytest.raises(InvalidField) as refused:
        parse_destination(text)
    assert refused.value.field == "output_destination"
    assert refused.value.message == f"output_destination: {sentence}"


@pytest.mark.parametrize(
    ("prefix", "path", "key"),
    [
        ("shots/sh010", "/work/job/out/frame_0012.exr", "shots/sh010/job-7/frame_0012.exr"),
        ("", "frame_0012.exr", "job-7/frame_0012.exr"),
        ("x", "C:\\renders\\out\\frame_0012.png", "x/job-7/frame_0012.png"),
        ("x", "D:/mixed\\sep/frame 12.png", "x/job-7/frame 12.png"),
    ],
)
def test_a_jobs_outputs_share_one_folder(prefix: str, path: str, key: str) -> None:
    assert object_key(prefix, 7, 12, path) == key


@pytest.mark.parametrize("path", ["", "out/", "out\\", "..", "out/.", "out/a\x00b", "out/\x7f"])
def test_an_output_without_a_plain_name_has_no_key(path: str) -> None:
    with pytest.raises(ObjectStorageError) as refused:
        object_key("shots", 7, 12, path)
    assert (
        refused.value.message == f"the output {path!r} of frame 12 has no plain file name to store it under"
    )


def test_a_key_over_s3s_limit_is_refused() -> None:
    with pytest.raises(ObjectStorageError, match="for frame 12 is longer than S3's 1024 bytes"):
        object_key("p" * 512, 7, 12, "n" * 600)


async def test_a_push_stores_the_bytes_and_the_hash_and_a_url_fetches_them(
    s3_endpoint: str, tmp_path: Path
) -> None:
    bucket = new_bucket(s3_endpoint)
    file, digest = output_file(tmp_path)
    storage = storage_at(s3_endpoint, tmp_path)
    key = object_key("shots/sh010", 7, 12, "/work/out/frame_0012.exr")

    assert await storage.push(file, bucket, key, digest) == f"s3://{bucket}/shots/sh010/job-7/frame_0012.exr"

    stored = s3_client(s3_endpoint).get_object(Bucket=bucket, Key=key)
    assert stored["Body"].read() == file.read_bytes()
    assert stored["Metadata"] == {"xxh3-128": digest}
    url = storage.presign(bucket, key, 600)
    assert url.startswith(f"{s3_endpoint}/{bucket}/shots/sh010/job-7/frame_0012.exr?")
    assert await asyncio.to_thread(fetch, url) == file.read_bytes()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return bytes(answer.read())


async def test_a_push_to_a_missing_bucket_says_so(s3_endpoint: str, tmp_path: Path) -> None:
    file, digest = output_file(tmp_path)
    with pytest.raises(ObjectStorageError) as failed:
        await storage_at(s3_endpoint, tmp_path).push(file, "no-such-bucket", "job-7/f.exr", digest)
    assert failed.value.message == f"the bucket 'no-such-bucket' does not exist at {s3_endpoint}"


async def test_a_push_to_an_endpoint_that_is_down_says_so(tmp_path: Path) -> None:
    require_s3_server()
    file, digest = output_file(tmp_path)
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ObjectStorageError) as failed:
        await storage_at(down, tmp_path).push(file, "renders", "job-7/f.exr", digest)
    assert failed.value.message.startswith(f"the S3 endpoint {down} cannot be reached (")


@pytest.fixture
def checking() -> Iterator[str]:
    """A moto server that checks credentials (it knows none, so every key is unknown)."""
    require_s3_server()
    with s3_server(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as url:
        yield url


async def test_a_push_with_unknown_credentials_is_denied(checking: str, tmp_path: Path) -> None:
    file, digest = output_file(tmp_path)
    with pytest.raises(ObjectStorageError) as failed:
        await storage_at(checking, tmp_path, secret="wrong").push(file, "renders", "job-7/f.exr", digest)
    assert failed.value.message == (
        f"{checking} denied access to the bucket 'renders' (InvalidAccessKeyId): check the controller's "
        "s3_access_key_id and s3_secret_access_key and what they may do"
    )


async def test_a_missing_file_says_which(s3_endpoint: str, tmp_path: Path) -> None:
    bucket = new_bucket(s3_endpoint)
    gone = tmp_path / "gone.exr"
    with pytest.raises(ObjectStorageError) as failed:
        await storage_at(s3_endpoint, tmp_path).push(gone, bucket, "job-7/gone.exr", "0" * 32)
    assert failed.value.message.startswith(f"{gone} cannot be read (")


async def test_a_hash_that_is_not_one_is_refused_before_any_request(tmp_path: Path) -> None:
    storage = ObjectStorage(ControllerConfig(data_dir=tmp_path), importer=no_boto3([]))
    with pytest.raises(ObjectStorageError, match=r"'0xZZ' is not an xxh3-128 \(32 lowercase hex digits\)"):
        await storage.push(tmp_path / "f", "renders", "job-7/f", "0xZZ")


def no_boto3(asked: list[str]) -> Any:
    """An importer for a controller without boto3, noting what was asked of it."""

    def importer(name: str) -> ModuleType:
        asked.append(name)
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    return importer


async def test_without_boto3_the_reason_says_what_to_install(tmp_path: Path) -> None:
    asked: list[str] = []
    storage = ObjectStorage(ControllerConfig(data_dir=tmp_path), importer=no_boto3(asked))
    assert asked == [], "made at controller start: nothing imported yet"

    assert not storage.available
    assert storage.unavailable_reason == MISSING_BOTO3
    assert MISSING_BOTO3 == "the controller lacks boto3: pip install 'renderq[s3]'"
    file, digest = output_file(tmp_path)
    with pytest.raises(ObjectStorageError, match=r"lacks boto3: pip install 'renderq\[s3\]'"):
        await storage.push(file, "renders", "job-7/f.exr", digest)
    with pytest.raises(ObjectStorageError, match=r"lacks boto3"):
        storage.presign("renders", "job-7/f.exr", 60)
    assert asked == ["boto3"], "asked once, remembered"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"s3_endpoint": "minio:9000"},
            "the controller's s3_endpoint 'minio:9000' is not an http:// or https:// URL",
        ),
        (
            {"s3_region": "us east"},
            "the controller's s3_region 'us east' is not a region name such as us-east-1",
        ),
        (
            {"s3_access_key_id": "AKIA1"},
            "the controller has only one of s3_access_key_id and s3_secret_access_key: give both, "
            "or neither to use boto3's own credentials",
        ),
    ],
)
def test_settings_that_cannot_work_are_why_it_is_unavailable(
    tmp_path: Path, changes: dict[str, Any], reason: str
) -> None:
    asked: list[str] = []
    storage = ObjectStorage(ControllerConfig(data_dir=tmp_path, **changes), importer=no_boto3(asked))
    assert storage.unavailable_reason == reason and not storage.available
    assert asked == []


@pytest.mark.parametrize("ttl", [0.0, -1.0, float("nan"), 7 * 24 * 3600 + 1])
def test_a_url_lives_at_most_a_week(tmp_path: Path, ttl: float) -> None:
    with pytest.raises(
        ObjectStorageError, match="a download URL lives more than 0 and at most 604800 seconds"
    ):
        ObjectStorage(ControllerConfig(data_dir=tmp_path)).presign("renders", "job-7/f.exr", ttl)


def test_the_settings_come_from_the_environment_and_the_secret_is_never_shown(tmp_path: Path) -> None:
    environ = {
        "RENDERQ_CONTROLLER_S3_ENDPOINT": "http://minio.local:9000",
        "RENDERQ_CONTROLLER_S3_ACCESS_KEY_ID": "renderq",
        "RENDERQ_CONTROLLER_S3_SECRET_ACCESS_KEY": "hunter2-secret",
    }
    empty = tmp_path / "controller.toml"
    empty.write_text("")
    loaded = settings.load(SCHEMA, argparse.Namespace(config=empty), environ)
    config = loaded.config
    assert (config.s3_endpoint, config.s3_region, config.s3_access_key_id) == (
        "http://minio.local:9000",
        "us-east-1",
        "renderq",
    )
    assert config.s3_secret_access_key == "hunter2-secret"
    secret = SCHEMA.setting("s3_secret_access_key")
    assert secret is not None and secret.shown(config.s3_secret_access_key) == "***"
    assert "hunter2" not in repr(config)
