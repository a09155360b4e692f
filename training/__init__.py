"""fraudcast.training: backtests, metrics, selection, MLflow tracking and retraining."""

import os

# MLflow's usage telemetry fetches a configuration from the internet and posts usage records
# from a background thread. fraudcast neither downloads nor sends anything at run time, so it
# is off before MLflow is first imported (every MLflow import goes through this package);
# setting MLFLOW_DISABLE_TELEMETRY=false in the environment turns it back on.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
