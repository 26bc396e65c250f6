"""What a model family builds when a spec key is null: per-dataset conv sizes and per-family layer options.

**Per dataset** (:data:`DATASET_CONV`, read through :func:`conv_sizes`): the conv family's channels per layer
(``model.width``), hidden fc width (``model.fc_width``), average-pool front for large frames and pooling rhythm
(``model.pool_every``). Datasets not in the table (a toy dataset registered by a test or a plugin) get
:class:`ConvSizes`'s own defaults. The dataset registry knows nothing of model families; this table does.

**Per family** (:class:`FamilyDefaults`): kernel size, biases, BatchNorm mode and dropout placement/mask.
:func:`resolve_options` lays the spec's non-null keys over them.
"""

from __future__ import annotations

from dataclasses import dataclass

from snnbench.errors import SuiteError


@dataclass(frozen=True)
class ConvSizes:
    """Sizes a conv-family network takes from its dataset when the spec leaves them null.

    width: channels of every conv layer. fc_width: hidden spiking fc layer (0 = none). front_pool: average-pool
    factor applied to the input frames before the first conv (1 = none). pool_every: max-pool after every n conv
    layers (None: spread the pools evenly, see ``pool_positions``).
    """

    width: int = 32
    fc_width: int = 256
    front_pool: int = 1
    pool_every: int | None = None


_SMALL = ConvSizes(width=32, fc_width=128, pool_every=1)  # 28x28 and 34x34 frames
_DVS128 = ConvSizes(width=64, fc_width=256, front_pool=4)  # 128x128 frames, average-pooled to 32x32

DATASET_CONV: dict[str, ConvSizes] = {
    "mnist_digits": ConvSizes(pool_every=1),
    "sklearn_digits": ConvSizes(pool_every=2),
    "dvs_digits": _SMALL,
    "mnist": _SMALL,
    "fashion_mnist": _SMALL,
    "nmnist": _SMALL,
    "cifar10": ConvSizes(width=64, fc_width=256),
    "dvs_gesture": _DVS128,
    "cifar10_dvs": _DVS128,
}


def conv_sizes(dataset: str) -> ConvSizes:
    """The conv sizes for ``dataset`` (:data:`DATASET_CONV`, else the :class:`ConvSizes` defaults)."""
    return DATASET_CONV.get(dataset, ConvSizes())


@dataclass(frozen=True)
class FamilyDefaults:
    """A family's layer options (the ``model.*`` keys of the same names; see ``docs/suites.md``).

    kernel_size: conv kernel (odd; padding ``kernel_size // 2`` keeps the frame size). conv_bias, fc_bias: whether
    conv / fc layers (hidden and output) have a bias; None = only where no BatchNorm follows. bn_mode:
    ``over_time`` (statistics over T x batch) or ``per_step``. dropout_placement: ``every_block`` (after every
    spiking block) or ``fc`` (only right before the fc layers fed by spikes: the hidden fc and the output fc).
    dropout_mask: ``per_sample`` (one mask for all T steps) or ``per_step`` (a fresh mask each step).
    """

    kernel_size: int = 3
    conv_bias: bool | None = None
    fc_bias: bool | None = None
    bn_mode: str = "over_time"
    dropout_placement: str = "every_block"
    dropout_mask: str = "per_sample"


OPTION_KEYS = ("kernel_size", "conv_bias", "fc_bias", "bn_mode", "dropout_placement", "dropout_mask")


def resolve_options(spec, family: FamilyDefaults) -> FamilyDefaults:
    """``family`` with every non-null ``model.<key>`` of ``spec`` (a ModelSpec) laid over it."""
    given = {k: getattr(spec, k) for k in OPTION_KEYS if getattr(spec, k) is not None}
    options = FamilyDefaults(**{**{k: getattr(family, k) for k in OPTION_KEYS}, **given})
    if options.kernel_size % 2 == 0:
        raise SuiteError(
            f"model.kernel_size is {options.kernel_size}; conv layers pad kernel_size // 2 to keep the frame size",
            hint="use an odd kernel size (3, 5, 7)",
        )
    return options


def layer_bias(option: bool | None, bn_follows: bool) -> bool:
    """Whether a conv/fc layer has a bias: the option when set, else only where no BatchNorm follows."""
    return (not bn_follows) if option is None else option
