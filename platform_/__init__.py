"""Downstream's Django project.

Named ``platform_`` (PEP 8's trailing underscore) because a package called ``platform`` would shadow the
standard library's ``platform`` module, which ``uuid`` (and so Django) imports.
"""

from .celery import app as celery_app

__all__ = ("celery_app",)
