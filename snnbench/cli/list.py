"""``snnbench list``: what is registered (datasets and whether their files are present, models, variants, ...)."""

from __future__ import annotations

import click
from rich.table import Table

from snnbench.cli.common import out_console
from snnbench.data import resolve_root
from snnbench.data.noise import describe_noise
from snnbench.data.presence import dataset_presence
from snnbench.models import MODELS
from snnbench.neurons import SURROGATES
from snnbench.suite import VARIANTS


@click.command(name="list")
@click.argument(
    "what", type=click.Choice(["datasets", "models", "variants", "surrogates", "noise"]), default="datasets"
)
@click.option("--data-root", default=None, help="Where to look for dataset files ($SNNBENCH_DATA_ROOT or data).")
def list_(what: str, data_root: str | None) -> None:
    """List registered datasets, models, learning variants, surrogates or noise kinds."""
    data_root = str(resolve_root("data", data_root))
    table = Table()
    if what == "noise":
        for col in ("noise kind", "applies to", "level", "unit", "params"):
            table.add_column(col)
        for row in describe_noise():
            table.add_row(row["name"], row["applies_to"], row["level"], row["unit"], row["params_text"])
    elif what == "datasets":
        for col in ("name", "kind", "shape (C,H,W)", "classes", "default T", f"files under {data_root}"):
            table.add_column(col)
        for info, files in dataset_presence(data_root):
            table.add_row(info.name, info.kind, str(info.shape), str(info.num_classes), str(info.default_T), files)
    elif what == "models":
        table.add_column("name")
        table.add_column("description")
        for entry in MODELS:
            table.add_row(entry.name, entry.meta.get("description", ""))
    elif what == "variants":
        table.add_column("variant")
        table.add_column("what trains")
        for name, text in VARIANTS.items():
            table.add_row(name, text)
    else:
        table.add_column("surrogate")
        table.add_column("default alpha")
        for entry in SURROGATES:
            table.add_row(entry.name, str(entry.meta["default_alpha"]))
    out_console.print(table)
