"""Chat load: many concurrent widget conversations against the platform served the production way.

    python tests/benchmarks/chat_load.py [--levels 10,50,100,200] [--quick] [--transports http,ws] [--workers 2]

uvicorn serves ``platform_.asgi`` as ``docker/compose.yaml`` runs the web service (``--workers 2 --proxy-headers
--forwarded-allow-ips``, production settings, PostgreSQL with the bounded pool, Redis cache and channel layer)
on the database ``downstream_bench_chat`` and Redis database 10. The demo chatbot (site, intents, FAQ) is seeded
and its intent model trained once through the real training task; a later run reuses both (``--fresh`` starts over).

Each level N runs N conversations at once, over HTTP (``POST /api/v1/chatbot/widget/messages/``) or over the
widget's WebSocket, and each sends 5 messages with 1 s of think time between a reply and the next message; the
conversations start evenly spread over the first second (``--spread``, 0 starts them in one burst, so that every
round of messages arrives at the same instant: a worst case, not how independent visitors arrive). Every
conversation is a distinct client: its address comes in ``X-Forwarded-For`` from 127.0.0.1, the trusted proxy
(``FORWARDED_ALLOW_IPS``), as behind the deployment's reverse proxy, so the per-client rate limits apply as they
would in production. A reply's latency runs from sending the message to receiving the bot's answer (the HTTP
response, or the bot's message event on the socket). Reported per level: reply p50/p95/p99, errors by status (a 5xx,
a 429/503 without Retry-After, a dropped connection or a timeout), the answers shed over capacity (429/503 with
Retry-After, which the widget retries: counted apart, not as errors), web CPU ms per reply,
replies/s (answered messages / wall time of the level), the web processes' RSS, the bench database's connections
(``pg_stat_activity``) and Redis clients on database 10 (``CLIENT LIST``), the last three sampled every 0.25 s.

The load generator is one asyncio process (httpx + websockets), so its own CPU stays small beside the server's.
The last stdout line is one JSON object; the numbers also go into docs/benchmarks.md (section ``chat_load``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import _report
import _server

ROOT = _report.ROOT
DB_NAME = "downstream_bench_chat"
REDIS_DB = 10
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
MESSAGES = 5
THINK_S = 1.0
REPLY_TIMEOUT_S = 30.0
SITE_KEY = "pk_demo_shop"
# Messages the demo bot answers itself (greeting, FAQ, order status, thanks…): none asks for a human, which would
# end the bot's part of the conversation.
TEXTS = [
    "hi there",
    "How do returns work?",
    "where is my order?",
    "how long does shipping take?",
    "can I pay with paypal?",
    "do you ship abroad?",
    "I want to change my delivery address",
    "thanks a lot",
    "what is your refund policy",
    "good morning",
]


def log(message: str) -> None:
    _report.log(f"{time.strftime('%H:%M:%S')} {message}")


def client_address(level: int, transport: str, index: int) -> str:
    """A distinct documentation-range address per conversation (198.18.0.0/15, benchmarking)."""
    n = (level * 1000 + (0 if transport == "http" else 500) + index) % 65000
    return f"198.18.{n // 250}.{n % 250 + 1}"


# --- the server and its resources ------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree_rss_mib(pid: int) -> float:
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        stack += _children(p)
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (their threads included)."""
    ticks, stack = 0, [pid]
    while stack:
        p = stack.pop()
        stack += _children(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


class Sampler:
    """Samples web RSS, the bench database's connections and Redis db-10 clients every 0.25 s (a thread)."""

    def __init__(self, pid: int) -> None:
        import threading

        import psycopg
        import redis

        self.pid = pid
        self.pg = psycopg.connect(_server.PG_ADMIN_URL, autocommit=True)
        self.redis = redis.Redis(host="127.0.0.1", port=6379, db=0, socket_timeout=5)
        self.stop = threading.Event()
        self.max = {"rss_mib": 0.0, "db_connections": 0, "redis_clients": 0}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> dict[str, float]:
        db = self.pg.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (DB_NAME,)).fetchone()[0]
        clients = sum(1 for c in self.redis.client_list() if str(c.get("db")) == str(REDIS_DB))
        return {"rss_mib": tree_rss_mib(self.pid), "db_connections": db, "redis_clients": clients}

    def _run(self) -> None:
        while not self.stop.wait(0.25):
            try:
                for key, value in self.sample().items():
                    self.max[key] = max(self.max[key], value)
            except Exception as exc:  # noqa: BLE001 - a missed sample is no reason to stop the benchmark
                log(f"sample failed: {exc}")

    def __enter__(self) -> Sampler:
        self.cpu_started = tree_cpu_s(self.pid)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_s = tree_cpu_s(self.pid) - self.cpu_started
        self.stop.set()
        self.thread.join(5)
        self.pg.close()
        self.redis.close()


# --- the load --------------------------------------------------------------------------------------------


class Level:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.errors: Counter[str] = Counter()
        self.session_ms: list[float] = []
        # Deliberate answers over capacity: 429/503 with Retry-After (the widget waits and sends again).
        self.shed: Counter[str] = Counter()

    def refused(self, prefix: str, status: int, retry_after: object) -> None:
        if status in (429, 503) and retry_after:
            self.shed[f"{prefix}{status}"] += 1
        else:
            self.errors[f"{prefix}{status}" + (" (no Retry-After)" if status in (429, 503) else "")] += 1


async def _open_session(http, base: str, headers: dict[str, str], level: Level) -> str | None:  # noqa: ANN001
    started = time.perf_counter()
    try:
        response = await http.post(f"{base}/api/v1/chatbot/widget/sessions/", json={"site_key": SITE_KEY}, headers=headers)
    except Exception as exc:  # noqa: BLE001
        level.errors[f"session {type(exc).__name__}"] += 1
        return None
    level.session_ms.append((time.perf_counter() - started) * 1000)
    if response.status_code != 201:
        level.refused("session ", response.status_code, response.headers.get("retry-after"))
        return None
    return response.json()["token"]


def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client (plain HTTP needs none, but httpx builds one per client otherwise, loading
    the CA bundle each time: ~20 ms of the load generator's CPU per conversation, which delayed the measurements)."""
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


_TLS: ssl.SSLContext | None = None


async def http_conversation(base: str, address: str, index: int, level: Level, start_s: float) -> None:
    import httpx

    await asyncio.sleep(start_s)
    # Its own client and connection, as each visitor's browser has (one shared pool serialises its bookkeeping).
    async with httpx.AsyncClient(timeout=REPLY_TIMEOUT_S, verify=_tls_context()) as http:
        await _http_messages(http, base, address, index, level)


async def _http_messages(http, base: str, address: str, index: int, level: Level) -> None:  # noqa: ANN001
    headers = {"X-Forwarded-For": address}
    token = await _open_session(http, base, headers, level)
    if token is None:
        return
    headers["X-Chat-Token"] = token
    for i in range(MESSAGES):
        text = TEXTS[(index + i) % len(TEXTS)]
        started = time.perf_counter()
        try:
            response = await http.post(f"{base}/api/v1/chatbot/widget/messages/", json={"text": text}, headers=headers)
        except Exception as exc:  # noqa: BLE001
            level.errors[type(exc).__name__] += 1
        else:
            if response.status_code == 201:
                level.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                level.refused("", response.status_code, response.headers.get("retry-after"))
        await asyncio.sleep(THINK_S)


async def ws_conversation(base: str, address: str, index: int, level: Level, start_s: float) -> None:
    import httpx
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    await asyncio.sleep(start_s)
    headers = {"X-Forwarded-For": address}
    async with httpx.AsyncClient(timeout=REPLY_TIMEOUT_S, verify=_tls_context()) as http:
        token = await _open_session(http, base, headers, level)
    if token is None:
        return
    url = base.replace("http://", "ws://") + f"/ws/chatbot/widget/?token={token}"
    try:
        async with connect(url, additional_headers=headers, open_timeout=REPLY_TIMEOUT_S, max_queue=64) as ws:
            for i in range(MESSAGES):
                text = TEXTS[(index + i) % len(TEXTS)]
                started = time.perf_counter()
                await ws.send(json.dumps({"type": "message", "text": text}))
                outcome = await asyncio.wait_for(_await_reply(ws), REPLY_TIMEOUT_S)
                if outcome is None:
                    level.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    level.refused("", *outcome)
                await asyncio.sleep(THINK_S)
    except TimeoutError:
        level.errors["ws timeout"] += 1
    except ConnectionClosed as exc:
        level.errors[f"ws closed {exc.rcvd.code if exc.rcvd else 'abnormally'}"] += 1
    except Exception as exc:  # noqa: BLE001 - e.g. a refused handshake (InvalidStatus) or a reset connection
        status = getattr(getattr(exc, "response", None), "status_code", None)
        level.errors[f"ws {status or type(exc).__name__}"] += 1


async def _await_reply(ws) -> tuple[int, object] | None:  # noqa: ANN001
    """None once the bot's answer arrives; (status, retry_after) for an error event."""
    while True:
        event = json.loads(await ws.recv())
        if event.get("type") == "error":
            return int(event.get("status") or 0), event.get("retry_after")
        if event.get("type") == "message" and event["message"]["sender"] in ("bot", "system"):
            return None


async def run_level(base: str, transport: str, n: int, spread_s: float = THINK_S) -> tuple[Level, float]:
    """``n`` conversations, the i-th starting at ``i / n * spread_s`` (evenly over one think time, as independent
    visitors arrive; ``spread_s=0`` starts them all at once, so that every message of a round arrives together)."""
    level = Level()
    conversation = http_conversation if transport == "http" else ws_conversation
    started = time.perf_counter()
    await asyncio.gather(*(conversation(base, client_address(n, transport, i), i, level, i / n * spread_s) for i in range(n)))
    wall = time.perf_counter() - started
    return level, wall


def percentile(values: list[float], q: int) -> float | None:
    if len(values) < 2:
        return round(values[0], 1) if values else None
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def warm(base: str) -> None:
    """A few conversations through every worker (the first replies load the model and the FAQ index)."""
    level, _ = asyncio.run(run_level(base, "http", 8))
    log(f"warm-up: {len(level.latencies_ms)} replies, errors {dict(level.errors)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="10,50,100,200", help="concurrent conversations per level, comma-separated")
    parser.add_argument("--quick", action="store_true", help="levels 10,50 over HTTP and WebSocket, no docs (a check while tuning)")
    parser.add_argument("--transports", default="http,ws")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (compose runs 2)")
    parser.add_argument("--spread", type=float, default=THINK_S, help="seconds over which a level's conversations start (0: all at once)")
    parser.add_argument("--fresh", action="store_true", help="drop the bench database and train the intent model again")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--contended", action="store_true", help="say in the docs that other work shared the CPU")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="an extra variable for the web server")
    args = parser.parse_args()
    levels = [10, 50] if args.quick and args.levels == parser.get_default("levels") else [int(x) for x in args.levels.split(",") if x]
    transports = [t for t in args.transports.split(",") if t]
    started = time.perf_counter()

    var = ROOT / "var" / "bench" / "chat_load"
    extra = dict(item.split("=", 1) for item in args.env)
    env = _server.production_env(
        DB_NAME,
        REDIS_URL,
        var,
        FORWARDED_ALLOW_IPS="127.0.0.1",
        # The per-site session limit guards a site against floods; the benchmark opens hundreds of sessions a minute.
        CHATBOT_SITE_SESSIONS_PER_MINUTE="1000000",
        WEB_CONCURRENCY=str(args.workers),
        **extra,
    )
    _server.activate(env)
    model = _server.seed_demo_chatbot(env, DB_NAME, fresh=args.fresh)
    _server.flush_redis([REDIS_URL])
    pool_max = int(env.get("DATABASE_POOL_MAX_SIZE", "10"))

    results: dict[str, dict] = {}
    with _server.start_uvicorn(env, args.workers) as (base, proc, log_path):
        time.sleep(3)  # the workers' warm-up threads load the model in the background
        warm(base)
        with Sampler(proc.pid) as idle:
            baseline = idle.sample()
        log(f"idle: {baseline}")
        for n in levels:
            for transport in transports:
                _server.flush_redis([REDIS_URL])  # a new minute of rate limits for every level
                own_cpu = time.process_time()
                with Sampler(proc.pid) as sampler:
                    level, wall = asyncio.run(run_level(base, transport, n, args.spread))
                    own_cpu = time.process_time() - own_cpu
                    time.sleep(0.3)
                replies = len(level.latencies_ms)
                row = {
                    "conversations": n,
                    "transport": transport,
                    "replies": replies,
                    "expected": n * MESSAGES,
                    "p50_ms": percentile(level.latencies_ms, 50),
                    "p95_ms": percentile(level.latencies_ms, 95),
                    "p99_ms": percentile(level.latencies_ms, 99),
                    "session_p95_ms": percentile(level.session_ms, 95),
                    "errors": dict(level.errors),
                    "errors_5xx": sum(c for k, c in level.errors.items() if k.removeprefix("session ").startswith("5")),
                    "errors_total": sum(level.errors.values()),
                    "shed": dict(level.shed),
                    "shed_total": sum(level.shed.values()),
                    "replies_per_s": round(replies / wall, 1),
                    "web_cpu_ms_per_reply": round(sampler.cpu_s * 1000 / replies, 1) if replies else None,
                    "load_generator_cpu_s": round(own_cpu, 1),
                    "wall_s": round(wall, 1),
                    **{f"max_{k}": v for k, v in sampler.max.items()},
                }
                results[f"{transport}@{n}"] = row
                log(json.dumps(row))
                _server.fail_if_exited(proc, "uvicorn", log_path)
        server_errors = [line for line in log_path.read_text(errors="replace").splitlines() if "Traceback" in line or " ERROR " in line]

    def worst(key: str, n: int) -> int | float | None:
        values = [r[key] for r in results.values() if r["conversations"] == n and r[key] is not None]
        return max(values) if values else None

    def total_at(key: str, n: int) -> int | None:
        values = [r[key] for r in results.values() if r["conversations"] == n]
        return sum(values) if values else None

    result = {
        "p95_ms_at_50": worst("p95_ms", 50),
        # Failures (a 5xx, or a 429/503 without Retry-After, a dropped connection, a timeout), HTTP and WebSocket together.
        "errors_at_100": total_at("errors_total", 100),
        "errors_at_200": total_at("errors_total", 200),
        "errors_5xx_at_100": total_at("errors_5xx", 100),
        "errors_5xx_at_200": total_at("errors_5xx", 200),
        # Answered over capacity with 429/503 and Retry-After (the widget retries), not counted as errors.
        "shed_at_100": total_at("shed_total", 100),
        "shed_at_200": total_at("shed_total", 200),
        "replies_per_second": max((r["replies_per_s"] for r in results.values()), default=0),
        "max_db_connections": max((r["max_db_connections"] for r in results.values()), default=0),
        "db_pool_max_per_process": pool_max,
        "web_processes": args.workers,
        "max_redis_clients": max((r["max_redis_clients"] for r in results.values()), default=0),
        "max_web_rss_mib": max((r["max_rss_mib"] for r in results.values()), default=0),
        "idle": baseline,
        "server_log_errors": len(server_errors),
        "levels": results,
        "intent_model": model,
        "date": _report.utc_now(),
        "machine": _report.machine(),
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    if server_errors:
        log(f"server log: {len(server_errors)} error lines, first: {server_errors[0]}")
    if not (args.quick or args.no_docs):
        write_docs(result, args)
    print(json.dumps(result))
    return 0


COLUMNS = ["N", "transport", "replies", "p50 ms", "p95 ms", "p99 ms", "errors", "429/503 + Retry-After", "replies/s", "web RSS MiB", "DB conns", "Redis"]


def write_docs(result: dict, args: argparse.Namespace) -> None:
    rows = []
    for r in result["levels"].values():
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none"
        shed = ", ".join(f"{k}: {v}" for k, v in sorted(r["shed"].items())) or "none"
        rows.append(
            [
                r["conversations"],
                r["transport"],
                f"{r['replies']}/{r['expected']}",
                r["p50_ms"],
                r["p95_ms"],
                r["p99_ms"],
                errors,
                shed,
                r["replies_per_s"],
                r["max_rss_mib"],
                r["max_db_connections"],
                r["max_redis_clients"],
            ]
        )
    contended = ", under contention: other work shared the 2 cores" if args.contended else ""
    body = "\n".join(
        [
            f"Measured {result['date']} on {result['machine']}{contended}.",
            f"`python tests/benchmarks/chat_load.py --levels {args.levels}` — uvicorn, {result['web_processes']} worker processes"
            " (as compose runs web), production settings, PostgreSQL pool max"
            f" {result['db_pool_max_per_process']} per process, Redis cache and channel layer; demo intent model {result['intent_model']}."
            f" Whole run {result['runtime_s']} s.",
            "",
            f"N concurrent conversations, each {MESSAGES} messages with {THINK_S:g} s think time, starting evenly over the first"
            f" {args.spread:g} s, each from its own client address"
            " (X-Forwarded-For from the trusted proxy). Latency: message sent → bot reply received. Web RSS: all uvicorn processes;"
            " DB: connections to the bench database (pg_stat_activity); Redis: clients on its database; maxima sampled every 0.25 s.",
            "",
            _report.table(COLUMNS, rows),
            "",
            f"Targets: p95 ≤ 500 ms at 50 (measured {result['p95_ms_at_50']}), ≥ 60 replies/s (peak {result['replies_per_second']}),"
            f" no errors at 100 and 200 (measured {result['errors_at_100']} and {result['errors_at_200']}; answered 429/503 with"
            f" Retry-After over capacity: {result['shed_at_100']} and {result['shed_at_200']}), DB connections ≤ the pool"
            f" ({result['max_db_connections']} for {result['web_processes']} × {result['db_pool_max_per_process']})."
            " Over capacity the widget answers 429/503 with Retry-After.",
        ]
    )
    _report.write_section("chat_load", body)


if __name__ == "__main__":
    sys.exit(main())
