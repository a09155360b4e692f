"""fraudcast.data: bundled figures with provenance, the figure store, validation, ingestion."""
