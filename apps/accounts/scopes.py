"""API token scopes. A product app registers its scopes here in its AppConfig.ready()."""

KNOWN_SCOPES: dict[str, str] = {
    "models:read": "List and read model versions and training runs.",
    "models:write": "Start training runs, promote and roll back model versions.",
}


def register_scope(name: str, description: str) -> None:
    KNOWN_SCOPES[name] = description
