"""The Celery application. Configuration lives in Django settings under the ``CELERY_`` namespace."""

from celery import Celery

from platform_.environment import use_settings_module

use_settings_module()

app = Celery("downstream")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
