"""Run the whole platform in the foreground: web server, Celery workers and beat, with prefixed output.

`make run` calls this after migrating and bootstrapping. Ctrl-C stops every process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the web server, a GPU-queue worker (solo pool), a CPU/default worker, a stream worker and celery beat."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--no-beat", action="store_true")

    def handle(self, *args, host: str, port: str, no_beat: bool, **options) -> None:  # noqa: ANN002, ANN003
        bin_dir = os.path.dirname(sys.executable)
        celery = [os.path.join(bin_dir, "celery"), "-A", "platform_"]
        commands = {
            "web": [
                os.path.join(bin_dir, "uvicorn"),
                "platform_.asgi:application",
                *("--host", host, "--port", str(port), "--no-access-log"),
                # The client address comes from X-Forwarded-For only when a trusted proxy sent it (apps.core.clients).
                *("--proxy-headers", "--forwarded-allow-ips", ",".join(settings.FORWARDED_ALLOW_IPS)),
                *("--ws-max-size", str(settings.WEBSOCKET_MAX_MESSAGE_BYTES)),
            ],
            # CUDA is not fork-safe: the training worker runs tasks in its own process, one at a time.
            "worker-gpu": [*celery, "worker", "-Q", "ml_gpu", "--pool=solo", "-n", "gpu@%h", "--loglevel=INFO"],
            "worker-cpu": [*celery, "worker", "-Q", "default,ml_cpu", "--concurrency=1", "-n", "cpu@%h", "--loglevel=INFO"],
            # Live camera streams hold a slot each for as long as they run: their own worker, one stream at a time here.
            "worker-streams": [*celery, "worker", "-Q", "streams", "--concurrency=1", "-n", "streams@%h", "--loglevel=INFO"],
        }
        if not no_beat:
            commands["beat"] = [*celery, "beat", "--loglevel=INFO", "-s", str(settings.VAR_DIR / "celerybeat-schedule")]
        processes = {name: self._spawn(name, cmd) for name, cmd in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"Downstream is starting on http://{host}:{port}/  (Ctrl-C stops everything)"))
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            while not stop.is_set():
                dead = [name for name, p in processes.items() if p.poll() is not None]
                if dead:
                    self.stderr.write(f"{', '.join(dead)} exited; stopping the platform.")
                    break
                time.sleep(0.5)
        finally:
            for p in processes.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for p in processes.values():
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)

        def pump() -> None:
            for line in process.stdout:
                sys.stdout.write(f"{name:<10} | {line}")
                sys.stdout.flush()

        threading.Thread(target=pump, daemon=True).start()
        return process
