"""Recorded templates for the gate's tests: what GetTemplate returned for a deployed stack."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TEMPLATES = Path(__file__).parent / "templates"


def recorded(name: str) -> dict[str, Any]:
    """A fresh copy of a recorded template (tests/tools/templates/NAME.json)."""
    return copy.deepcopy(json.loads((TEMPLATES / f"{name}.json").read_text()))


@pytest.fixture
def deployed() -> dict[str, Any]:
    """kahula-prod as deployed: the real synthesized prod template, recorded."""
    return recorded("kahula-prod.deployed")


@pytest.fixture
def edited(deployed) -> Callable[..., dict[str, Any]]:
    """The deployed template with one property set, or one resource removed."""

    def edit(logical_id: str, prop: str | None = None, value: Any = None) -> dict[str, Any]:
        new = copy.deepcopy(deployed)
        if prop is None:
            del new["Resources"][logical_id]
        else:
            new["Resources"][logical_id]["Properties"][prop] = value
        return new

    return edit
