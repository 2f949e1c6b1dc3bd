"""Settings of a live server started by the tests: the test settings, with tasks queued as in production.

Running tasks eagerly would train models and process videos inside the web request; here they wait in the test
broker, which the tests purge.
"""

from platform_.settings.test import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
