"""Fixtures for tests that need the real Blender: skipped where it is missing, except under CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from renderq.demo.scene import ensure_demo_scene


@pytest.fixture(scope="session")
def blender() -> str:
    path = shutil.which("blender")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Blender is not on PATH, and CI=true requires the real Blender")
        pytest.skip("Blender is not on PATH")
    return path


@pytest.fixture(scope="session")
def demo_scene(blender: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_demo_scene(tmp_path_factory.mktemp("demo-scene"), blender)
