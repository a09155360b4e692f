"""One module per command group of the ``fraudcast`` CLI; each exposes ``register(app)``."""
