"""The controller's process sets the interpreter's thread switching and collector."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from renderq.controller.interpreter_settings import GC_THRESHOLDS, SWITCH_INTERVAL, tune_interpreter


@pytest.fixture
def restored() -> Iterator[None]:
    """This test process's own settings back afterwards."""
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    yield
    sys.setswitchinterval(interval)
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored")
def test_both_settings_are_applied() -> None:
    tune_interpreter()
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    assert gc.get_threshold() == GC_THRESHOLDS
