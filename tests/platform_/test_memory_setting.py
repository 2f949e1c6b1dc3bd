"""ML_MEMORY_LIMIT: read once at start-up into ML_MEMORY_LIMIT_BYTES; a value that cannot be read stops the process."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from ml.memory import GIB, MIB, host_memory_bytes
from platform_.settings.checks import memory_limit_bytes
from tests.platform_.test_startup import STRONG_KEY, _production_env, _run


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12G", 12 * GIB), ("12 GB", 12 * GIB), ("512MiB", 512 * MIB), ("1.5g", int(1.5 * GIB)), (str(8 * GIB), 8 * GIB)],
)
def test_sizes_and_bytes(value: str, expected: int):
    assert memory_limit_bytes(value) == expected


def test_a_share_or_nothing_is_taken_of_this_machines_memory():
    host = host_memory_bytes()
    assert memory_limit_bytes("50%") == int(host * 0.5)
    assert memory_limit_bytes("") == memory_limit_bytes("  ") == int(host * 0.7)


@pytest.mark.parametrize("value", ["lots", "12 parsecs", "-1G", "0%", "150%", "10M", "0"])
def test_unreadable_or_useless_values_are_refused_with_what_to_set(value: str):
    with pytest.raises(ImproperlyConfigured, match=r"ML_MEMORY_LIMIT .*leave it empty for 70 %"):
        memory_limit_bytes(value)


def test_a_bad_value_stops_the_process_at_start_up(tmp_path):
    bad = _run("import django; django.setup()", _production_env(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, ML_MEMORY_LIMIT="twelve gigs"))
    assert bad.returncode != 0 and "ML_MEMORY_LIMIT must be bytes, a size like 12G" in bad.stderr and "'twelve gigs'" in bad.stderr
    code = "import django; django.setup(); from django.conf import settings; print(settings.ML_MEMORY_LIMIT_BYTES)"
    ok = _run(code, _production_env(tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, ML_MEMORY_LIMIT="3G"))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == str(3 * GIB)
