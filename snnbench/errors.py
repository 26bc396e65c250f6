"""One exception root for snnbench.

User errors (bad suite, unknown name, missing data, no GPU) are :class:`SnnbenchError` subclasses. The CLI prints
them as one line, ``error: <where>: <what> (hint: <how to fix>)``, and exits with code 2; a traceback appears only
with ``--debug``. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SnnbenchError(Exception):
    """A user-facing error: what is wrong, where, and how to fix it."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return " ".join(text.split())  # always one line


class SuiteError(SnnbenchError):
    """A suite file is malformed, has an unknown key, a wrong type or an out-of-range value."""


class UnknownNameError(SnnbenchError):
    """A registry lookup (dataset, model, surrogate, noise, variant, ...) missed."""


class DataError(SnnbenchError):
    """Dataset files are missing or unreadable."""


class DeviceError(SnnbenchError):
    """The requested device (e.g. ``cuda``) is not available."""


class LaunchError(SnnbenchError):
    """A launcher cannot start: no SLURM on this machine, sbatch refused the job, bad worker devices."""


class ResultsError(SnnbenchError):
    """The results directory is unusable (unwritable, from another suite, unknown schema)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ``did you mean 'x'?`` fragment for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def unknown_name_hint(name: str, choices: Iterable[str]) -> str:
    """Hint listing the valid names, led by a did-you-mean where one fits."""
    choices = sorted(choices)
    guess = did_you_mean(name, choices)
    valid = "valid: " + ", ".join(choices)
    return f"{guess} {valid}" if guess else valid
