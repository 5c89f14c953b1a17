"""The core's settings, read once per container from the function's environment.

Every name and default comes from the spec (``spec.Env``, ``spec.ContractPaths``, the follow-up
rules, the key limits); this module only parses them into the shapes the hot path uses. A bad
value fails at once with a ConfigurationError naming the variable, never a raw exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from . import spec
from .errors import ConfigurationError

Path = tuple[str, ...]


def _parts(path: str) -> Path:
    return tuple(path.split("."))


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What the data path needs to know, parsed: dotted paths as tuples, rules, limits."""

    paths: spec.ContractPaths = field(default_factory=spec.ContractPaths)
    follow_up_rules: tuple[spec.FollowUpRule, ...] = spec.DEFAULT_FOLLOW_UP_RULES
    key_limits: Mapping[str, int] = field(default_factory=lambda: dict(spec.KEY_ATTRIBUTES))
    #: The reserved source of replayed events (spec.replay_source); None: never unwrap.
    replay_source: str | None = None
    #: Sources only the platform publishes under (spec.Env.RESERVED_SOURCES): a front door
    #: that writes straight into the store refuses an event claiming one.
    reserved_sources: frozenset[str] = frozenset()

    # Derived from ``paths`` (never set directly).
    event_id_path: Path = field(init=False)
    domain_path: Path = field(init=False)
    saga_id_path: Path = field(init=False)
    mbocdp_id_path: Path = field(init=False)
    hash_excluded_paths: tuple[Path, ...] = field(init=False)  # relative to the detail
    max_inline_item_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        derived = {
            "event_id_path": _parts(self.paths.event_id_path),
            "domain_path": _parts(self.paths.domain_path),
            "saga_id_path": _parts(self.paths.saga_id_path),
            "mbocdp_id_path": _parts(self.paths.mbocdp_id_path),
            "hash_excluded_paths": tuple(_parts(p)[1:] for p in self.paths.hash_excluded_paths),
            "max_inline_item_bytes": self.paths.max_inline_item_bytes,
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def follow_up_types(self) -> frozenset[str]:
        return frozenset(rule.detail_type for rule in self.follow_up_rules)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        """Parse the variables the construct set; an absent one keeps the spec's default."""
        try:
            return cls(
                paths=spec.ContractPaths.from_environment(environ),
                follow_up_rules=spec.decode_follow_up_rules(environ.get(spec.Env.FOLLOW_UP_RULES)),
                key_limits=spec.decode_indexed_attributes(environ.get(spec.Env.INDEXED_ATTRIBUTES)),
                replay_source=environ.get(spec.Env.REPLAY_SOURCE, "").strip() or None,
                reserved_sources=spec.decode_reserved_sources(
                    environ.get(spec.Env.RESERVED_SOURCES)
                ),
            )
        except spec.SpecError as exc:
            raise ConfigurationError(f"invalid function configuration: {exc}") from None
