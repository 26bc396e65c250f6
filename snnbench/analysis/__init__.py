"""Computed from stored results, never from a live model: statistics across seeds, robustness summaries, decision
fusion and the paper's claims. The report renders what this package returns."""
