"""The OpenAPI schema is a contract: schemathesis checks the live ASGI app against it.

uvicorn serves ``platform_.asgi`` against the test database (seeded so that every endpoint has something to return),
and ``schemathesis run`` sends what the schema allows (and what it forbids) as an operator, as an integrator and with
no token, with every check on and the stateful phase included. Any failure is a broken contract: a 500, a response
that does not match its schema, a status code the schema does not list, a valid request rejected or an invalid one
accepted. The command is printed on failure so it can be run by hand (see also the README).

One check is configured narrowly, in ``schemathesis.toml``: "schema-valid request accepted" also allows a 400 on the
operations whose rule JSON Schema cannot state (a file's content, a family-dependent prediction item, a training
config's value ranges and rules across keys, traffic geometry and stream URLs that must resolve to public hosts, a
missed crossing's moment within its job); each entry says why. Every other check runs on every operation.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.platform_.live_api import contract_seed, live_asgi_server

pytestmark = [pytest.mark.services]

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")

# Every operation is checked; CONTRACT_EXCLUDE (comma-separated operation ids) leaves some out while working on them.
EXCLUDED_OPERATIONS: tuple[str, ...] = tuple(
    filter(None, os.environ.get("CONTRACT_EXCLUDE", "").split(","))
)


def schemathesis_command(base_url: str, token: str | None, report: Path) -> list[str]:
    cmd = [
        SCHEMATHESIS, "run", f"{base_url}/api/v1/schema/",
        "--checks", "all",
        "--max-examples", os.environ.get("CONTRACT_MAX_EXAMPLES", "25"),
        "--seed", "20260713",
        "--generation-database", "none",
        # Strings never hold NUL (PostgreSQL text cannot); JSON Schema has no plain way to say so.
        "--generation-allow-x00", "false",
        "--workers", "1",
        "--request-timeout", "60",
        "--no-color",
        "--report", "junit", "--report-junit-path", str(report),
    ]
    for op in EXCLUDED_OPERATIONS:
        cmd += ["--exclude-path-regex" if op.startswith("^") else "--exclude-operation-id", op]
    if token:
        cmd += ["--header", f"Authorization: Bearer {token}"]
    return cmd


@pytest.mark.timeout(900)
@pytest.mark.parametrize("identity", ["operator", "integrator", "anonymous"])
def test_live_api_honours_its_openapi_schema(identity, transactional_db, settings):
    tokens = contract_seed()
    with live_asgi_server() as base_url:
        report = Path(settings.VAR_DIR) / f"schemathesis-{identity}.xml"
        cmd = schemathesis_command(base_url, tokens.get(identity), report)
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=840)
    shown = shlex.join(c if not c.startswith("Authorization") else "Authorization: Bearer <token>" for c in cmd)
    assert result.returncode == 0, f"{shown}\n{result.stdout[-20000:]}\n{result.stderr[-3000:]}"
