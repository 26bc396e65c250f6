"""snnbench: benchmarking and energy profiling for spiking neural networks with learnable thresholds."""

__version__ = "0.1.0"


def load_model(cell_dir, device="cpu"):
    """Reload a finished cell's trained network (see :func:`snnbench.results.load_model`)."""
    from snnbench.results import load_model as _load_model

    return _load_model(cell_dir, device)
