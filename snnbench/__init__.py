"""snnbench: benchmarking and energy profiling for spiking neural networks with learnable thresholds."""

__version__ = "0.1.0"
