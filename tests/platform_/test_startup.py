"""Production refuses to start on a placeholder or short secret key; no entry point guesses its settings."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from platform_.settings.checks import secret_key_problem

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = secrets.token_urlsafe(64)


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOWNSTREAM_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="platform_.settings.production",
        DJANGO_ALLOWED_HOSTS="shop.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL="memory://",
        DOWNSTREAM_VAR_DIR=str(tmp_path / "var"),
    )
    env.update(extra)
    return env


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "change-me-in-production",  # the compose file's old default: public, so anyone could forge chat tokens
        "insecure-local-development-key-do-not-use-in-production",
        "x" * 80,  # long but one character
        "short-but-random-9f2c1a",
        "django-insecure-" + "a1b2c3d4e5" * 6,
    ],
)
def test_weak_keys_are_refused(key: str):
    assert secret_key_problem(key)


def test_a_random_key_is_accepted():
    assert secret_key_problem(STRONG_KEY) is None


def test_production_does_not_start_with_the_old_compose_default(tmp_path: Path):
    result = _run("import django; django.setup()", _production_env(tmp_path, DJANGO_SECRET_KEY="change-me-in-production"))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is a placeholder" in result.stderr and "secrets.token_urlsafe" in result.stderr
    ok = _run("import django; django.setup()", _production_env(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY))
    assert ok.returncode == 0, ok.stderr


# A developer's `.env` may name the settings (as .env.example does); these tests need a checkout without one.
needs_no_env_file = pytest.mark.skipif((ROOT / ".env").exists(), reason="a .env file names the settings on this machine")


@needs_no_env_file
@pytest.mark.parametrize("entry_point", ["platform_.asgi", "platform_.wsgi", "platform_.celery"])
def test_entry_points_do_not_fall_back_to_local_settings(tmp_path: Path, entry_point: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOWNSTREAM_"))}
    env["DOWNSTREAM_VAR_DIR"] = str(tmp_path)
    result = _run(f"import {entry_point}", env)
    assert result.returncode != 0 and "DJANGO_SETTINGS_MODULE is not set" in result.stderr
    # A development machine says so, and gets the local settings.
    dev = _run(f"import {entry_point}; from django.conf import settings; print(settings.SETTINGS_MODULE)", {**env, "DOWNSTREAM_DEV": "1"})
    assert dev.returncode == 0, dev.stderr
    assert dev.stdout.strip().endswith("platform_.settings.local")


@needs_no_env_file
def test_manage_py_does_not_fall_back_to_local_settings(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOWNSTREAM_"))}
    env["DOWNSTREAM_VAR_DIR"] = str(tmp_path)
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "DJANGO_SETTINGS_MODULE is not set" in result.stderr
