"""Downstream's framework-light ML layer.

Never imports django, rest_framework, celery, ``apps`` or ``platform_``: it takes plain config dataclasses and
returns plain results, so the same code trains inside a Celery worker, a benchmark script or a notebook.
"""
