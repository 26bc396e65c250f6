"""Measurement of what a run costs (e.g. GPU power and energy: :mod:`snnbench.measure.power`)."""
