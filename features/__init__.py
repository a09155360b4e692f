"""fraudcast.features: gap and break handling, lags and scale checks of yearly series."""
