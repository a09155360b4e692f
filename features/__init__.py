"""fraudcast.features: transforms, gap and break handling, lags and diagnostics of yearly series."""
