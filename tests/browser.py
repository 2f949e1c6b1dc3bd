"""Debian chromium driven by Playwright (never `playwright install`: it downloads). Fixtures in tests/conftest.py.

The Django ORM is only used outside a ``sync_playwright()`` block: Playwright's sync API runs an asyncio loop in
the test's thread, and Django refuses synchronous ORM calls while one is running.
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def csp_violations(page) -> list[str]:  # noqa: ANN001 - a Playwright page
    """Console reports of what the page's Content-Security-Policy blocked from now on (the list fills as they come)."""
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text) if "Content Security Policy" in message.text else None)
    return found
