"""Demo shop for `make run` (filled in below)."""


def seed_demo_shop() -> str:
    return "commerce: no demo data yet"
