"""Physical names of the named resources: ``{prefix}-{what}-{env}``, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Names:
    prefix: str
    env: str

    def of(self, what: str) -> str:
        return f"{self.prefix}-{what}-{self.env}"

    @property
    def event_bus(self) -> str:
        return self.of("events")

    @property
    def table(self) -> str:
        return self.of("events")

    @property
    def follow_up_source(self) -> str:
        return f"{self.prefix}.event-persister"

    @property
    def metrics_namespace(self) -> str:
        return f"{self.prefix.capitalize()}/EventPersistence"
