"""fraudcast.models: the forecaster contract, the model catalog, combinations and interval calibration."""
