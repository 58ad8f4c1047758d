"""Output files pushed to S3-compatible object storage, and presigned URLs to fetch them.

A job whose ``output_destination`` is ``s3://BUCKET/PREFIX`` has each output file pushed
by the controller once the file is in the controller's own store (blob_store.py), under
``PREFIX/job-ID/NAME``: one folder per job, so a person finds a shot's frames side by
side. The file's xxh3-128 goes with it as object metadata (``x-amz-meta-xxh3-128``), so
whoever reads the object can check it is what the agent rendered. ``renderq outputs JOB
--urls`` hands out presigned GET URLs: a download needs no credentials of its own.

boto3 is an optional extra (``pip install 'renderq[s3]'``) and takes a good part of a
second to import, so nothing here imports it before a push, a URL or ``available`` asks:
a controller whose jobs name no bucket never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from renderq.controller.errors import InvalidField, clip

if TYPE_CHECKING:
    from renderq.controller.config import ControllerConfig

FIELD = "output_destination"
CONTROLLER = "controller"
"""The destination that keeps outputs in the controller's store only (as "" does)."""
KEEP = "keep"
"""The destination that leaves outputs where the renderer wrote them (a share)."""
SCHEME = "s3://"
METADATA_HASH = "xxh3-128"
"""The object metadata key holding the file's xxh3-128 (S3 sends it as x-amz-meta-xxh3-128)."""
MAX_KEY_BYTES = 1024
"""S3's limit on an object key, in UTF-8 bytes."""
MAX_PREFIX_BYTES = 512
"""A prefix leaves room under MAX_KEY_BYTES for ``job-ID/NAME``."""
MAX_URL_TTL = 7 * 24 * 3600.0
"""The longest a presigned (SigV4) URL may live: a week."""
CONNECT_TIMEOUT = 10.0
"""Seconds to reach the endpoint: an unreachable one fails a push in well under a minute
(three attempts), not boto3's default of three minutes."""
MISSING_BOTO3 = "the controller lacks boto3: pip install 'renderq[s3]'"

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BUCKET_RULES = (
    "3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter "
    "or digit, no two dots in a row, not an IP address"
)
_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
_HASH = re.compile(r"[0-9a-f]{32}")
_SEPARATORS = re.compile(r"[/\\]")
_DENIED = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "403",
    }
)
_MISSING_BUCKET = frozenset({"NoSuchBucket", "404"})

Importer = Callable[[str], ModuleType]
"""How modules are imported: ``importlib.import_module``, or a test's stand-in."""


class ObjectStorageError(Exception):
    """A push or a URL that could not be made; ``message`` says why in one sentence, for
    the output's storage_error and for `renderq outputs`."""

    def __init__(self, message: str) -> None:
        message = clip(message)
        super().__init__(message)
        self.message = message


def parse_destination(text: str) -> tuple[str, str] | None:
    """``(bucket, prefix)`` for ``s3://BUCKET/PREFIX`` (the prefix without slashes at
    either end, "" for none); None for a destination with nothing to push: "" and
    "controller", and also "keep", which the caller tells apart itself, since keeping
    the files where they were written means not collecting them at all. Anything else
    is InvalidField naming the value, so a job is refused at submit rather than failing
    at its first frame."""
    if text in ("", CONTROLLER, KEEP):
        return None
    if not text.startswith(SCHEME):
        raise InvalidField(
            FIELD, f'{text!r} is not a destination: give "controller", "keep" or {SCHEME}BUCKET/PREFIX'
        )
    bucket, _, prefix = text[len(SCHEME) :].partition("/")
    if not bucket:
        raise InvalidField(FIELD, f"{text!r} names no bucket: give {SCHEME}BUCKET/PREFIX")
    if not _is_bucket_name(bucket):
        raise InvalidField(FIELD, f"{bucket!r} in {text!r} is not an S3 bucket name: {_BUCKET_RULES}")
    prefix = prefix.strip("/")
    problem = _prefix_problem(prefix)
    if problem:
        raise InvalidField(FIELD, f"the prefix in {text!r} {problem}")
    return bucket, prefix


def _is_bucket_name(name: str) -> bool:
    if not _BUCKET.fullmatch(name) or ".." in name:
        return False
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return True
    return False


def _prefix_problem(prefix: str) -> str | None:
    """What is wrong with a prefix, as the end of a sentence; None when nothing is. A key
    is not a path to S3, but people and tools (sync, mounts) take it for one, so a prefix
    is folder names that mean the same everywhere."""
    if "\\" in prefix:
        return "has a backslash: S3 folders are separated by /"
    if _odd_character(prefix):
        return "has a control character"
    if prefix and any(name in ("", ".", "..") for name in prefix.split("/")):
        return 'has an empty, "." or ".." folder name'
    if len(prefix.encode()) > MAX_PREFIX_BYTES:
        return f"is longer than {MAX_PREFIX_BYTES} bytes"
    return None


def _odd_character(text: str) -> bool:
    """A control character (NUL included) or a lone surrogate, which no key may hold."""
    return any(unicodedata.category(char) in ("Cc", "Cs") for char in text)


def object_key(prefix: str, job_id: int, frame: int, path: str) -> str:
    """Where frame ``frame``'s output ``path`` goes: ``PREFIX/job-ID/NAME``, NAME the last
    part of the path the agent reported (split at / and at \\, whichever its OS used). A
    job's outputs share one folder, so frames must write different names, as renderers
    do. ObjectStorageError when the path ends in no plain file name."""
    name = _SEPARATORS.split(path)[-1]
    if name in ("", ".", "..") or _odd_character(name):
        raise ObjectStorageError(
            f"the output {path!r} of frame {frame} has no plain file name to store it under"
        )
    key = "/".join(part for part in (prefix, f"job-{job_id}", name) if part)
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ObjectStorageError(
            f"the key {key!r} for frame {frame} is longer than S3's {MAX_KEY_BYTES} bytes"
        )
    return key


class ObjectStorage:
    """The controller's one way to S3: made from its settings at start (cheaply), it
    imports boto3 and makes its one client (thread-safe, shared by every push) only when
    first used."""

    def __init__(self, config: ControllerConfig, importer: Importer = importlib.import_module) -> None:
        self._endpoint = config.s3_endpoint or None
        self._region = config.s3_region
        self._key_id = config.s3_access_key_id or None
        self._secret = config.s3_secret_access_key or None
        self._importer = importer
        self._lock = threading.Lock()
        self._checked = False
        self._problem: str | None = None
        self._client: Any = None

    @property
    def where(self) -> str:
        """The endpoint, for sentences."""
        return self._endpoint or "Amazon S3"

    @property
    def available(self) -> bool:
        """Whether pushes can be tried: boto3 is installed and the settings make sense
        (not whether the bucket exists: a push says that). The first call imports boto3."""
        return self.unavailable_reason is None

    @property
    def unavailable_reason(self) -> str | None:
        """Why no push can be made, in one sentence; None when one can. The first call
        imports boto3, which blocks for a moment: from the event loop, ask it off the loop
        (asyncio.to_thread) or at a time a pause does not matter."""
        with self._lock:
            if not self._checked:
                self._problem = self._settings_problem() or self._import_problem()
                self._checked = True
            return self._problem

    def _settings_problem(self) -> str | None:
        if self._endpoint is not None and not _is_http_url(self._endpoint):
            return f"the controller's s3_endpoint {self._endpoint!r} is not an http:// or https:// URL"
        if not _REGION.fullmatch(self._region):
            return f"the controller's s3_region {self._region!r} is not a region name such as us-east-1"
        if (self._key_id is None) != (self._secret is None):
            return (
                "the controller has only one of s3_access_key_id and s3_secret_access_key: give both, "
                "or neither to use boto3's own credentials"
            )
        return None

    def _import_problem(self) -> str | None:
        try:
            self._importer("boto3")
        except ImportError:
            return MISSING_BOTO3
        return None

    async def push(self, file: Path, bucket: str, key: str, xxh3_128: str) -> str:
        """Upload ``file`` to ``bucket`` under ``key`` (from parse_destination and
        object_key), its ``xxh3_128`` as metadata, off the event loop (a large file goes
        up in parts); the object's ``s3://bucket/key``. ObjectStorageError with a
        sentence when it cannot: boto3 missing, no such bucket, access denied, the
        endpoint unreachable, the file unreadable."""
        if not _HASH.fullmatch(xxh3_128):
            raise ObjectStorageError(f"{xxh3_128!r} is not an xxh3-128 (32 lowercase hex digits)")
        await asyncio.to_thread(self._upload, file, bucket, key, xxh3_128)
        return f"{SCHEME}{bucket}/{key}"

    def _upload(self, file: Path, bucket: str, key: str, xxh3_128: str) -> None:
        client = self._connected()
        with self._translated(bucket, file):
            client.upload_file(str(file), bucket, key, ExtraArgs={"Metadata": {METADATA_HASH: xxh3_128}})

    def presign(self, bucket: str, key: str, ttl_seconds: float) -> str:
        """A URL that GETs the object without credentials for ``ttl_seconds`` (more than 0,
        at most MAX_URL_TTL). Made locally, no request sent; but the first call makes the
        client (see ``unavailable_reason``): from the event loop, make that first call off the loop.
        ObjectStorageError when no URL can be made."""
        if not 0 < ttl_seconds <= MAX_URL_TTL:
            raise ObjectStorageError(
                f"a download URL lives more than 0 and at most {MAX_URL_TTL:.0f} seconds, not {ttl_seconds}"
            )
        client = self._connected()
        with self._translated(bucket, None):
            url = client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=math.ceil(ttl_seconds)
            )
        return str(url)

    def _connected(self) -> Any:
        """The client, made at the first call (slow: models loaded, credentials found)."""
        problem = self.unavailable_reason
        if problem is not None:
            raise ObjectStorageError(problem)
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _new_client(self) -> Any:
        config = self._importer("botocore.config").Config(
            signature_version="s3v4",
            connect_timeout=CONNECT_TIMEOUT,
            retries={"mode": "standard", "max_attempts": 3},
            # Services other than Amazon's rarely have a DNS name per bucket.
            s3={"addressing_style": "path" if self._endpoint else "auto"},
        )
        session = self._importer("boto3.session").Session()
        return session.client(
            "s3",
            endpoint_url=self._endpoint,
            region_name=self._region,
            aws_access_key_id=self._key_id,
            aws_secret_access_key=self._secret,
            config=config,
        )

    @contextlib.contextmanager
    def _translated(self, bucket: str, file: Path | None) -> Iterator[None]:
        """What boto3 raises as ObjectStorageError with a sentence (the original kept as
        its cause); anything else, a bug, goes up as it is."""
        botocore = self._importer("botocore.exceptions")
        expected = (
            OSError,
            botocore.BotoCoreError,
            botocore.ClientError,
            self._importer("boto3").exceptions.Boto3Error,
        )
        try:
            yield
        except expected as exc:
            raise ObjectStorageError(_sentence(exc, botocore, self.where, bucket, file)) from exc


def _sentence(exc: BaseException, botocore: ModuleType, where: str, bucket: str, file: Path | None) -> str:
    """Why a request to ``where`` failed, from boto3's exception (``botocore`` is
    botocore.exceptions, imported when boto3 was)."""
    refused = _client_error(exc, botocore.ClientError)
    if refused is not None:
        error = refused.response.get("Error", {})
        code, said = str(error.get("Code", "")), str(error.get("Message", ""))
        if code in _MISSING_BUCKET:
            return f"the bucket {bucket!r} does not exist at {where}"
        if code in _DENIED:
            return (
                f"{where} denied access to the bucket {bucket!r} ({code}): check the controller's "
                "s3_access_key_id and s3_secret_access_key and what they may do"
            )
        return f"{where} refused the request for the bucket {bucket!r}: {code} {said}".rstrip()
    if isinstance(exc, (botocore.NoCredentialsError, botocore.PartialCredentialsError)):
        return (
            "the controller has no S3 credentials: set s3_access_key_id and s3_secret_access_key, "
            "or AWS's own (AWS_* variables, ~/.aws)"
        )
    if isinstance(exc, (botocore.ConnectionError, botocore.HTTPClientError)):
        return f"the S3 endpoint {where} cannot be reached ({exc})"
    if isinstance(exc, OSError) and file is not None:
        return f"{file} cannot be read ({exc.strerror or exc})"
    return f"the request to {where} for the bucket {bucket!r} failed: {exc}"


def _client_error(exc: BaseException, kind: type[BaseException]) -> Any:
    """The ClientError in ``exc``'s chain: boto3's uploads raise their own error while
    handling S3's answer, which is where the code saying what went wrong is."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
