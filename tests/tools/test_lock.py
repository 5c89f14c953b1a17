"""The lock `make dev` installs pins what the requirements files pin, with hashes."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def pins(path: Path) -> dict[str, str]:
    text = path.read_text()
    found = {name.lower().replace("_", "-"): version for name, version in PIN.findall(text)}
    for included in re.findall(r"^-r\s+(\S+)", text, re.MULTILINE):
        found |= pins(path.parent / included)
    return found


def test_every_direct_pin_is_in_the_lock_at_the_same_version():
    direct = pins(ROOT / "requirements-dev.txt")
    locked = pins(ROOT / "requirements-dev.lock")
    assert {n: v for n, v in direct.items() if locked.get(n) != v} == {}


def test_every_locked_package_has_a_hash_and_no_local_index_leaks_in():
    text = (ROOT / "requirements-dev.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[-1])
    assert all("--hash=sha256:" in b for b in blocks if PIN.match(b))
    assert "--find-links" not in text
    assert "--index-url" not in text
    assert "--extra-index-url" not in text


def test_make_dev_installs_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -r requirements-dev.lock" in makefile
    assert "-r requirements-dev.txt\n" not in makefile
