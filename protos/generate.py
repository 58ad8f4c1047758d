"""Generate the Python stubs in renderq/v1 from the protos.

Run ``python protos/generate.py`` after changing a .proto file; CI runs it with
``--check`` and fails when the committed stubs differ from what the protos give.
The output depends only on the pinned grpcio-tools and mypy-protobuf versions
(see the ``dev`` extra in pyproject.toml), so every machine generates the same bytes.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc_tools

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
PACKAGE = Path("renderq") / "v1"


def generate(out: Path) -> list[Path]:
    """Run protoc into ``out``; return the generated files relative to ``out``."""
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / PACKAGE).glob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    plugin = shutil.which("protoc-gen-mypy_grpc")
    if plugin is None:
        sys.exit("protoc-gen-mypy_grpc not found: pip install -e '.[dev]'")
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        f"--plugin=protoc-gen-mypy_grpc={plugin}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    subprocess.run(cmd, check=True, cwd=PROTOS)
    return sorted(p.relative_to(out) for p in (out / PACKAGE).iterdir() if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs are stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp))
        committed = {p.relative_to(ROOT) for p in (ROOT / PACKAGE).iterdir() if p.is_file()}
        committed.discard(PACKAGE / "__init__.py")
        if args.check:
            stale = [
                str(f)
                for f in files
                if not (ROOT / f).exists() or not filecmp.cmp(Path(tmp) / f, ROOT / f, shallow=False)
            ]
            stale += [str(f) for f in committed - set(files)]
            if stale:
                sys.exit("stale generated stubs (run python protos/generate.py): " + ", ".join(sorted(stale)))
            print(f"stubs up to date ({len(files)} files)")
            return
        for f in committed - set(files):
            (ROOT / f).unlink()
        for f in files:
            shutil.copyfile(Path(tmp) / f, ROOT / f)
        print(f"wrote {len(files)} files to {PACKAGE}")


if __name__ == "__main__":
    main()
