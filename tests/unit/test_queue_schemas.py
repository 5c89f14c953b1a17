"""The schema folder: one file per event type, samples beside them, compiled once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
from kahula_core.errors import ConfigurationError
from queue_consumer.message import parse_message
from queue_consumer.schemas import SCHEMA_DIR, SchemaRegistry

EVENT_TYPES = ("integrations", "monitoring", "transaction.authorizers", "user.applications",
               "user.created")  # fmt: skip


def _sample(event_type: str, kind: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{event_type}.{kind}.json").read_text())


def test_the_folder_holds_the_five_starting_types() -> None:
    assert SchemaRegistry().event_types == EVENT_TYPES


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_schema_is_a_valid_draft_07_schema_with_a_version(event_type: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{event_type}.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["version"]
    fastjsonschema.compile(schema)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_sample_is_a_readable_message_valid_for_its_schema(event_type: str) -> None:
    sample = _sample(event_type, "sample")
    parsed = parse_message(json.dumps(sample))
    assert parsed.event_type == event_type
    verdict = SchemaRegistry().validate(event_type, parsed.payload)
    assert verdict.valid, verdict.reason


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_invalid_sample_is_readable_but_invalid_with_a_reason(event_type: str) -> None:
    parsed = parse_message(json.dumps(_sample(event_type, "invalid")))
    verdict = SchemaRegistry().validate(event_type, parsed.payload)
    assert not verdict.valid
    assert verdict.reason and verdict.reason.startswith("payload")


def go_seeder_messages() -> list[dict[str, Any]]:
    """What MihailProcudin/event-processor's seeder sends (cmd/seeder/main.go), shape for
    shape: route "default", created_at RFC 3339 in seconds, and AWS_REGION possibly unset (an
    empty label)."""
    now = "2026-11-22T05:40:36Z"

    def envelope(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "tenant_id": "tenant-a",
            "event_id": "5f0c8a1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b",
            "event_type": event_type,
            "route": "default",
            "payload": payload,
            "created_at": now,
        }

    return [
        envelope("user.created", {"id": "9d1e...", "email": "user@example.com"}),
        envelope(
            "monitoring",
            {
                "timestamp": now,
                "level": "INFO",
                "message": "seeder health check ok",
                "source": "seeder",
                "labels": {"env": "dev", "region": ""},
                "metrics": {"latency_ms": 12.3},
            },
        ),
        envelope(
            "user.applications",
            {
                "app_id": "app-123",
                "user_id": "u-1",
                "action": "install",
                "metadata": {"platform": "android", "version": "1.0.0"},
                "timestamp": now,
            },
        ),
        envelope(
            "transaction.authorizers",
            {
                "transaction_id": "t-1",
                "authorizer": "risk-engine",
                "decision": "APPROVED",
                "reason": "score high",
                "amount": 123.45,
                "currency": "USD",
                "timestamp": now,
            },
        ),
        envelope(
            "integrations",
            {
                "integration_id": "int-abc",
                "provider": "stripe",
                "event": "webhook.received",
                "payload": {"type": "invoice.paid", "id": "x"},
                "timestamp": now,
            },
        ),
    ]


@pytest.mark.parametrize("body", go_seeder_messages(), ids=lambda b: b["event_type"])
def test_every_message_the_go_seeder_sends_is_ready(body: dict[str, Any]) -> None:
    parsed = parse_message(json.dumps(body))
    verdict = SchemaRegistry().validate(parsed.event_type, parsed.payload)
    assert verdict.valid, verdict.reason


def test_adding_a_type_is_dropping_a_schema_file_in_the_folder(tmp_path: Path) -> None:
    # GIVEN the shipped folder plus one new file
    folder = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, folder)
    (folder / "order.shipped.schema.json").write_text(
        json.dumps({"type": "object", "required": ["order_id"], "version": "2"})
    )
    registry = SchemaRegistry(folder)
    # THEN the type is known, validated, and its version recorded
    assert "order.shipped" in registry.event_types
    assert registry.validate("order.shipped", {"order_id": "o-1"}).schema_version == "2"
    assert not registry.validate("order.shipped", {}).valid


def test_a_schema_without_version_is_identified_by_its_content_hash(tmp_path: Path) -> None:
    (tmp_path / "x.schema.json").write_text('{"type": "object"}')
    assert (
        SchemaRegistry(tmp_path).validate("x", {}).schema_version
        == "sha256:" + (__import__("hashlib").sha256(b'{"type": "object"}').hexdigest()[:12])
    )


def test_each_schema_is_compiled_once_per_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[Any] = []
    real = fastjsonschema.compile
    monkeypatch.setattr(fastjsonschema, "compile", lambda d: compiled.append(d) or real(d))
    registry = SchemaRegistry()
    for _ in range(3):
        registry.validate("user.created", {"id": "1", "email": "a@b.example"})
    assert len(compiled) == 1


def test_a_broken_schema_file_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "bad.schema.json").write_text('{"type": "no-such-type"}')
    with pytest.raises(ConfigurationError, match=r"bad\.schema\.json"):
        SchemaRegistry(tmp_path).validate("bad", {})
