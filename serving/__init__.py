"""fraudcast.serving: the FastAPI app, the planner web page and the `fraudcast` CLI."""
