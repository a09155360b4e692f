"""fraudcast.models: the forecaster contract, the catalog, combinations, interval calibration."""
