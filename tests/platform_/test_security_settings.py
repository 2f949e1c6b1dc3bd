"""Production settings: HTTPS redirect, HSTS and CSP on by default and configurable; Django's deploy checklist clean."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
django.setup()
from django.test import Client
c = Client()
out = {}
plain = c.get("/api/v1/models/")
out["plain_login"] = [plain.status_code, plain.get("Location", "")]
health = c.get("/healthz?checks=database")
out["plain_healthz"] = health.status_code
secure = c.get("/api/v1/models/", secure=True)
out["secure_login"] = [secure.status_code, secure.get("Strict-Transport-Security", ""), secure.get("Content-Security-Policy", "")]
print("PROBE" + json.dumps(out))
"""


def _production(tmp_path: Path, code: list[str], **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOWNSTREAM_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="platform_.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="testserver,shop.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL="memory://",
        DOWNSTREAM_VAR_DIR=str(tmp_path / "var"),
        **extra,
    )
    return subprocess.run([sys.executable, *code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def _probe(tmp_path: Path, **extra: str) -> dict:
    result = _production(tmp_path, ["-c", PROBE], **extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.split("PROBE", 1)[1])


def test_production_passes_the_deploy_checklist_with_no_warning(tmp_path: Path):
    result = _production(tmp_path, ["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_redirects_to_https_sends_hsts_and_a_csp_but_healthz_answers_on_http(tmp_path: Path):
    out = _probe(tmp_path)
    assert out["plain_login"] == [301, "https://testserver/api/v1/models/"]
    assert out["plain_healthz"] == 200  # load balancers and the container healthcheck probe over plain HTTP
    status, hsts, csp = out["secure_login"]
    assert status == 401
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp


def test_the_https_settings_and_the_policy_are_configurable(tmp_path: Path):
    out = _probe(
        tmp_path, DJANGO_SECURE_SSL_REDIRECT="false", DJANGO_SECURE_HSTS_SECONDS="0", DJANGO_CONTENT_SECURITY_POLICY="default-src 'self' cdn.example.com"
    )
    assert out["plain_login"][0] == 401
    status, hsts, csp = out["secure_login"]
    assert hsts == "" and csp == "default-src 'self' cdn.example.com"


@pytest.mark.django_db
def test_pages_carry_the_policy_and_the_api_docs_their_own():
    page = Client().get("/login/")
    assert "script-src 'self';" in page["Content-Security-Policy"]
    docs = Client().get("/api/v1/docs/")
    assert "'unsafe-inline'" in docs["Content-Security-Policy"].split("script-src", 1)[1].split(";")[0]
