"""Callbacks the runner reports to while it works; the CLI draws them (``snnbench.cli.display``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from snnbench.suite import Cell, Suite


class Progress:
    """Callbacks the runner reports to (the CLI shows them with rich); the base class ignores them."""

    def suite_start(self, suite: Suite, device: torch.device, results: Path) -> None: ...

    def skip(self, cell: Cell) -> None: ...

    def measured(self, cell: Cell, what: str) -> None:
        """A finished cell got the measurements its suite asks and it lacked; ``what`` says which."""
        self.skip(cell)

    def cell_start(self, cell: Cell, total_epochs: int) -> None: ...

    def batch(self, index: int, total: int, loss: float, acc: float) -> None: ...

    def epoch(self, record: dict[str, Any]) -> None: ...

    def cell_end(self, cell: Cell, status: str, metrics: dict[str, Any]) -> None: ...
