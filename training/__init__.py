"""fraudcast.training: rolling-origin backtests, metrics, selection, MLflow tracking and retraining."""
