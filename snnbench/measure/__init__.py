"""Measurements of trained cells: GPU power (NVML), running-counter probes, synaptic operations and energy,
threshold dynamics, noise robustness, and decision fusion across cells."""
