"""Live progress for ``snnbench run`` with rich: suite cells, the current cell's epochs, and batches with loss."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from snnbench.runner import Progress as RunnerProgress
from snnbench.suite import Cell


class RichProgress(RunnerProgress):
    def __init__(self, total_cells: int, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.cells = self.bars.add_task("cells", total=total_cells, info="")
        self.epochs = self.bars.add_task("epochs", total=1, info="", visible=False)
        self.batches = self.bars.add_task("batches", total=1, info="", visible=False)

        self.started = False

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            self.bars.__exit__(*exc)

    def suite_start(self, suite, device, results) -> None:
        self.console.print(f"suite '{suite.name}': {len(suite.cells)} cells on {device} -> {results}", markup=False)
        self.bars.__enter__()
        self.started = True

    def skip(self, cell: Cell) -> None:
        self.bars.advance(self.cells)

    def cell_start(self, cell: Cell, total_epochs: int) -> None:
        s = cell.spec
        label = f"{s.data.dataset} {s.model.name} d{s.model.depth} {s.train.variant} s{s.seed}"
        self.bars.update(self.cells, info=label)
        self.bars.reset(self.epochs, total=total_epochs, visible=True, info="")

    def batch(self, index: int, total: int, loss: float, acc: float) -> None:
        if index == 0:
            self.bars.reset(self.batches, total=total, visible=True)
        self.bars.update(self.batches, completed=index + 1, info=f"loss {loss:.4f} acc {acc:.3f}")

    def epoch(self, record: dict[str, Any]) -> None:
        self.bars.update(
            self.epochs,
            advance=1,
            info=f"train_acc {record['train_acc']:.3f} test_acc {record['test_acc']:.3f} "
            f"({record['train_samples_per_s']:.0f} samples/s)",
        )

    def cell_end(self, cell: Cell, status: str, metrics: dict[str, Any]) -> None:
        self.bars.advance(self.cells)
        s = cell.spec
        label = f"{s.data.dataset} {s.model.name} d{s.model.depth} {s.train.variant} s{s.seed} [{cell.cell_id}]"
        if status == "done":
            self.console.print(f"[green]done[/] {escape(label)}: test_acc {metrics['test_acc']:.4f}")
        else:
            self.console.print(f"[red]failed[/] {escape(label)}: {escape(str(metrics.get('error')))}")
