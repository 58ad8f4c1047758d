"""A job's project files: what ``--upload PATH`` names, hashed into the job's manifest.

Agents that share no disk with the submitter get a job's files through the controller,
by content: each file is a blob named by its xxh3-128 and size, so what the controller
already holds is never sent twice. This module only reads the local disk (no network):
the CLI and the TUI's submit form both turn the paths a user picked into ``pb.FileEntry``
records here, then hand the result to ``client/upload.py``.

What lands where on the agent (``{project}`` is the job's project folder there):
a file given directly keeps its name (``{project}/scene.blend``); a folder keeps its own
name and everything under it (``{project}/shot010/tex/wood.png``); an archive given
directly (.zip, .tar, .tar.gz, .tgz, .gz) is unpacked into ``{project}``, while one
inside a folder is an ordinary file.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import xxhash

from renderq.v1 import resources_pb2 as pb

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".gz")
"""Given directly to ``--upload``, a file with one of these endings is unpacked on the agent."""
BLOCK = 4 << 20
"""Bytes read per call while hashing: large enough that the hash, not Python, sets the pace."""
HASHERS = 4
"""Files hashed at once: xxhash releases the GIL, so threads overlap reading and hashing."""


class ProjectError(ValueError):
    """The paths cannot become a manifest as given; the message says which path and why."""


@dataclass(frozen=True)
class Found:
    """A regular file to carry, before its content is hashed."""

    source: Path
    """Where it is read on this machine (through a symlink that stays inside its folder)."""
    path: str
    """Its place under the agent's project folder, '/'-separated."""
    size: int
    mode: int
    unpack: bool = False


@dataclass(frozen=True)
class ProjectFile:
    """A file of the manifest and where its bytes are on this machine."""

    source: Path
    entry: pb.FileEntry


@dataclass(frozen=True)
class UploadRoot:
    """One ``--upload`` path: what a path parameter under it becomes on the agent."""

    real: Path
    """The path with every symlink resolved, as path parameters are."""
    path: str
    """Its name under the agent's project folder."""
    is_dir: bool
    unpack: bool


@dataclass
class Listing:
    """What walking the ``--upload`` paths found, before any content is read."""

    files: list[Found] = field(default_factory=list)
    roots: list[UploadRoot] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """One sentence per thing left out (a socket, a broken link), for the user to see."""

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class Project:
    """The hashed manifest, ready for FindMissingBlobs, UploadBlob and ``Job.files``."""

    files: list[ProjectFile]
    roots: list[UploadRoot]
    skipped: list[str]

    def manifest(self) -> list[pb.FileEntry]:
        return [f.entry for f in self.files]

    def blobs(self) -> dict[tuple[str, int], ProjectFile]:
        """Each distinct blob once, with the first file that holds it (read to send it)."""
        distinct: dict[tuple[str, int], ProjectFile] = {}
        for f in self.files:
            distinct.setdefault(blob_key(f.entry.blob), f)
        return distinct

    def agent_path(self, local: Path) -> str | None:
        """``{project}/...`` for a resolved local path that is, or lies inside, an upload
        the agent gets as is (an archive is unpacked, so nothing is at its path there)."""
        for root in self.roots:
            if root.unpack:
                continue
            if local == root.real:
                return f"{{project}}/{root.path}"
            if root.is_dir and local.is_relative_to(root.real):
                return f"{{project}}/{root.path}/{local.relative_to(root.real).as_posix()}"
        return None


def blob_key(blob: pb.BlobRef) -> tuple[str, int]:
    return blob.xxh3_128, blob.size_bytes


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def file_mode(st_mode: int) -> int:
    """0755 for a file anyone may execute (a script the job runs), else 0644."""
    return 0o755 if st_mode & 0o111 else 0o644


def walk(paths: Sequence[Path]) -> Listing:
    """Every regular file the absolute ``paths`` name, without reading content.

    Raises ProjectError for a path that is neither a file nor a folder, a symlink that
    leads out of its folder, or two files that would land on one path on the agent.
    """
    listing = Listing()
    for given in paths:
        name = given.name
        try:
            info = given.stat()
        except OSError as error:
            raise ProjectError(f"cannot read {given}: {error.strerror}") from None
        real = given.resolve()
        if stat.S_ISDIR(info.st_mode):
            listing.roots.append(UploadRoot(real, name, is_dir=True, unpack=False))
            _walk_folder(real, given, PurePosixPath(name), frozenset({real}), listing)
        elif stat.S_ISREG(info.st_mode):
            unpack = is_archive(name)
            listing.roots.append(UploadRoot(real, name, is_dir=False, unpack=unpack))
            listing.files.append(Found(given, name, info.st_size, file_mode(info.st_mode), unpack))
        else:
            raise ProjectError(f"{given} is neither a file nor a folder; only those can be uploaded")
    check_paths(listing.files)
    return listing


def _walk_folder(
    real_root: Path, folder: Path, at: PurePosixPath, ancestors: frozenset[Path], listing: Listing
) -> None:
    """The files under ``folder`` (read through ``folder``, landing at ``at``).

    ``ancestors`` are the resolved folders walked to get here, so a link back to one of
    them (a loop) is noticed; symlinks are followed while their target stays in ``real_root``.
    """
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as error:
        raise ProjectError(f"cannot list {folder}: {error.strerror}") from None
    if not entries:
        listing.skipped.append(f"{folder}: an empty folder (agents get files only)")
    for entry in entries:
        place = at / entry.name
        source = Path(entry.path)
        if entry.is_symlink():
            _follow_link(real_root, source, place, ancestors, listing)
        elif entry.is_dir(follow_symlinks=False):
            _walk_folder(real_root, source, place, ancestors | {source.resolve()}, listing)
        elif entry.is_file(follow_symlinks=False):
            info = entry.stat(follow_symlinks=False)
            listing.files.append(Found(source, str(place), info.st_size, file_mode(info.st_mode)))
        else:
            listing.skipped.append(f"{source}: {_kind(entry.stat(follow_symlinks=False).st_mode)}")


def _follow_link(
    real_root: Path, link: Path, place: PurePosixPath, ancestors: frozenset[Path], listing: Listing
) -> None:
    target = link.resolve()
    if not target.is_relative_to(real_root):
        raise ProjectError(
            f"{link} is a symbolic link to {target}, outside the uploaded folder {real_root}; "
            "agents would not get it: copy it into the folder or upload it with its own --upload"
        )
    try:
        info = target.stat()
    except OSError:
        listing.skipped.append(f"{link}: a broken symbolic link (to {target})")
        return
    if stat.S_ISDIR(info.st_mode):
        if target in ancestors:
            listing.skipped.append(f"{link}: a symbolic link back to {target}, a folder above it (a loop)")
            return
        _walk_folder(real_root, link, place, ancestors | {target}, listing)
    elif stat.S_ISREG(info.st_mode):
        listing.files.append(Found(link, str(place), info.st_size, file_mode(info.st_mode)))
    else:
        listing.skipped.append(f"{link}: a symbolic link to {_kind(info.st_mode)}")


def _kind(st_mode: int) -> str:
    """What a thing that is neither a file nor a folder is, in words."""
    if stat.S_ISSOCK(st_mode):
        return "a socket"
    if stat.S_ISFIFO(st_mode):
        return "a named pipe"
    if stat.S_ISBLK(st_mode) or stat.S_ISCHR(st_mode):
        return "a device"
    return "not a regular file"


def check_paths(files: Iterable[Found]) -> None:
    """Refuse two files on one path, on one path but for case (a Windows or macOS agent
    would keep only one), or a file where another needs a folder."""
    by_key: dict[str, Found] = {}
    for found in files:
        first = by_key.setdefault(found.path.casefold(), found)
        if first.source != found.source:  # the same file named twice is one entry
            raise ProjectError(_clash(first, found))
    for found in by_key.values():
        for parent in PurePosixPath(found.path).parents:
            blocking = by_key.get(str(parent).casefold())
            if blocking is not None:
                raise ProjectError(
                    f"{blocking.source} would be the file {blocking.path!r} in the project folder, "
                    f"where {found.source} needs a folder; rename one"
                )


def _clash(first: Found, second: Found) -> str:
    if first.path == second.path:
        return (
            f"{first.source} and {second.source} would both become {first.path!r} in the project "
            "folder; rename one, or upload the folder that holds it instead"
        )
    return (
        f"{first.source} and {second.source} would become {first.path!r} and {second.path!r} in "
        "the project folder, which differ only in case: Windows and macOS agents keep only one; "
        "rename one"
    )


def hash_file(source: Path, buffer: bytearray) -> tuple[str, int]:
    """The xxh3-128 (hex) and size of ``source`` in one pass, through ``buffer``."""
    digest = xxhash.xxh3_128()
    view = memoryview(buffer)
    size = 0
    with open(source, "rb", buffering=0) as handle:
        while count := handle.readinto(view):
            digest.update(view[:count])
            size += count
    return digest.hexdigest(), size


def hash_listing(listing: Listing, on_bytes: Callable[[int], None] | None = None) -> Project:
    """The manifest of ``listing``: each file hashed once, a few files at a time.

    ``on_bytes`` hears, on the calling thread, the size of each file as it is done (for
    a progress bar).
    """
    buffers = threading.local()

    def one(found: Found) -> ProjectFile:
        if not hasattr(buffers, "block"):
            buffers.block = bytearray(BLOCK)
        try:
            digest, size = hash_file(found.source, buffers.block)
        except OSError as error:
            raise ProjectError(f"cannot read {found.source}: {error.strerror}") from None
        blob = pb.BlobRef(xxh3_128=digest, size_bytes=size)
        entry = pb.FileEntry(path=found.path, blob=blob, mode=found.mode, unpack=found.unpack)
        return ProjectFile(found.source, entry)

    unique = {f.path: f for f in listing.files}.values()
    files: list[ProjectFile] = []
    pool = ThreadPoolExecutor(HASHERS)
    try:
        for done in as_completed([pool.submit(one, f) for f in unique]):
            files.append(done.result())
            if on_bytes is not None:
                on_bytes(files[-1].entry.blob.size_bytes)
    finally:
        # A refusal or Ctrl-C waits for the files being hashed, not for all the others.
        pool.shutdown(cancel_futures=True)
    return Project(sorted(files, key=lambda f: f.entry.path), listing.roots, listing.skipped)


def read_project(paths: Sequence[Path], on_bytes: Callable[[int], None] | None = None) -> Project:
    """``walk`` then ``hash_listing``: for callers that need no total before hashing."""
    return hash_listing(walk(paths), on_bytes)
