"""Celery queue names. Import-light on purpose: settings, workers and scripts import it without Django."""

from enum import StrEnum


class Queue(StrEnum):
    DEFAULT = "default"  # housekeeping, webhooks, schedules
    ML_CPU = "ml_cpu"  # light inference, batch scoring
    ML_GPU = "ml_gpu"  # training and heavy image/video inference
    STREAMS = "streams"  # live camera stream sessions: each holds a worker slot for as long as it runs


ALL_QUEUES = tuple(q.value for q in Queue)
