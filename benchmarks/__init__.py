"""Benchmarks: scripts that run fraudcast and reference tools on public data and print figures."""
