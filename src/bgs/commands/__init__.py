"""CLI command groups beyond the data layer; each module exposes ``register(app)``."""
