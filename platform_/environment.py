"""Which settings a process runs with: manage.py, asgi, wsgi and celery all ask here.

Outside development a process must name its settings (``DJANGO_SETTINGS_MODULE``); falling back to the local
settings silently would run production with DEBUG on, an insecure key and demo pages. Development says so with
``DOWNSTREAM_DEV=1`` (``make run`` sets it), in the environment or in ``.env``.
"""

from __future__ import annotations

import os
from pathlib import Path

DEVELOPMENT_SETTINGS = "platform_.settings.local"
_ENV_FILE = Path(__file__).resolve().parent.parent / ".env"
_TRUE = ("1", "true", "yes", "on")


def _env_file_value(name: str) -> str:
    """``name`` from the optional `.env` file (the environment wins over it, as in settings)."""
    try:
        lines = _ENV_FILE.read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and key.strip().removeprefix("export ").strip() == name:
            return value.strip().strip("'\"")
    return ""


def _value(name: str) -> str:
    return os.environ.get(name) or _env_file_value(name)


def use_settings_module() -> str:
    """Set ``DJANGO_SETTINGS_MODULE`` for this process and return it; stop when nothing names the settings."""
    module = _value("DJANGO_SETTINGS_MODULE")
    if not module and _value("DOWNSTREAM_DEV").lower() in _TRUE:
        module = DEVELOPMENT_SETTINGS
    if not module:
        raise SystemExit(
            "DJANGO_SETTINGS_MODULE is not set. Production: DJANGO_SETTINGS_MODULE=platform_.settings.production. "
            "A development machine: DOWNSTREAM_DEV=1 (or `make run`), which uses platform_.settings.local."
        )
    os.environ["DJANGO_SETTINGS_MODULE"] = module
    return module
