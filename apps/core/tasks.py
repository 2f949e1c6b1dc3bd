from celery import shared_task


@shared_task(name="core.noop", ignore_result=False)
def noop(value: int = 0) -> int:
    """Returns its argument: measures the broker/worker round trip (tests/benchmarks/platform_overhead.py)."""
    return value
