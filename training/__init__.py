"""fraudcast.training: backtests, metrics, selection, MLflow tracking and retraining."""
