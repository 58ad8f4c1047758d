"""Run a benchmark against two revisions of renderq in turn, in one run, on one machine.

A figure is only as good as the CPU left to the farm, so "before" and "after" are
measured alternately (before, after, before, after, ...) rather than hours apart. The
older revision is installed (not editable) into a folder of its own and put first on
PYTHONPATH for its runs, so the benchmark and every renderq process it starts import
that revision; the benchmark script itself is this checkout's, the same for both.

Usage: python bench/compare.py BEFORE_REV [--after REV] [--rounds 2] -- dispatch.py --frames 5000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def install(revision: str, into: Path) -> Path:
    """``revision`` of this repository installed into ``into/site``; returns that folder."""
    tree = into / "tree"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    site = into / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(tree)],
        check=True,
    )  # fmt: skip
    return site


def main() -> None:
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", help="the revision to compare with this checkout, e.g. HEAD~5")
    parser.add_argument("--after", help="the revision to compare it with (default: this checkout as it is)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each revision, alternating")
    args = parser.parse_args(argv[:cut])
    bench = argv[cut + 1 :]
    if not bench:
        parser.error("name the benchmark after --, e.g. -- dispatch.py --frames 5000")
    script = [sys.executable, str(ROOT / "bench" / bench[0]), *bench[1:]]
    with tempfile.TemporaryDirectory(prefix="renderq-compare-") as tmp:
        site = install(args.before, Path(tmp) / "before")
        after = str(install(args.after, Path(tmp) / "after")) if args.after else ""
        runs = ((f"before ({args.before})", str(site)), (f"after ({args.after or 'this checkout'})", after))
        for round_ in range(1, args.rounds + 1):
            for label, path in runs:
                print(f"\n===== round {round_}: {label}", flush=True)
                env = dict(os.environ)
                if path:
                    env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, env.get("PYTHONPATH", "")]))
                # Run from an empty folder: `python -m renderq` puts the working directory first
                # on sys.path, and this checkout's renderq/ would shadow the installed revision.
                subprocess.run(script, env=env, check=True, cwd=tmp)


if __name__ == "__main__":
    main()
