r"""The training loss on class rates ``r`` ``[B, classes]`` (population readout, in [0, 1]) and labels ``y``.

* ``mse`` (the paper's): :math:`L = \frac{1}{B C} \sum_{b,c} (r_{bc} - [y_b = c])^2`, the one-hot target;
* ``ce``: cross-entropy with the rates as logits.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def loss_fn(rates: Tensor, labels: Tensor, loss: str) -> Tensor:
    """``mse``: MSE between class rates and the one-hot target; ``ce``: cross-entropy with the rates as logits."""
    if loss == "mse":
        return F.mse_loss(rates, F.one_hot(labels, rates.shape[1]).to(rates.dtype))
    return F.cross_entropy(rates, labels)
