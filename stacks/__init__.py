"""Thin stacks: compose the constructs for one environment, wire outputs and checks."""

from .event_persistence_stack import EventPersistenceStack, build_app

__all__ = ["EventPersistenceStack", "build_app"]
