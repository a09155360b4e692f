"""fraudcast.data: the bundled figures with provenance, the figure store, validation and ingestion."""
