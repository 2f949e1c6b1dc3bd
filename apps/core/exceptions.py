"""Exceptions services raise that every channel (API, dashboard, sockets) answers the same way."""

from __future__ import annotations


class Conflict(Exception):
    """The request is valid but clashes with the current state (e.g. a result that is already reviewed): 409."""

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}
