"""Shared test set-up: the project's Node 22 for jsii, and the sample events."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from local.synth import use_project_node

EVENTS_DIR = Path(__file__).parent / "events"

# jsii runs on whatever `node` is first on PATH: use the project's own Node 22.
use_project_node()


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of a sample EventBridge event from tests/events/."""
    return copy.deepcopy(json.loads((EVENTS_DIR / f"{name}.json").read_text()))


@pytest.fixture
def event():
    return load_event
