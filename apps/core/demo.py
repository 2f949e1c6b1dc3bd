"""Demo data for `make run`: each product registers a seeder in its AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable

# A seeder is idempotent (a second `make run` adds nothing) and returns a one-line summary for the console.
Seeder = Callable[[], str]
_SEEDERS: dict[str, Seeder] = {}


def register_demo_seeder(name: str, seeder: Seeder) -> None:
    _SEEDERS[name] = seeder


def demo_seeders() -> dict[str, Seeder]:
    return dict(_SEEDERS)
