r"""Training-split augmentation (``data.augment``): random translation by zero-padded cropping, and horizontal flips.

Applied by the training loop to each training batch, on the device, *before* spike encoding (static images) or to
the binned frames (event data); the test split is never augmented. The draws come from the training loop's random
stream, seeded by the cell seed and saved in checkpoints, so the same seed gives the same augmented batches.

* ``none`` (default): the batch passes through unchanged and no random numbers are drawn.
* ``crop``: zero-pad each sample by :math:`p` pixels on every side, then cut out the original :math:`H \times W` at
  an offset :math:`(o_y, o_x)` drawn uniformly from :math:`\{0, \dots, 2p\}^2` per sample:

  .. math:: \tilde x[\dots, i, j] = x[\dots, i + o_y - p, j + o_x - p] \quad (0 \text{ outside the image})

  i.e. a shift by :math:`(p - o_y, p - o_x)` pixels. :math:`p = \max(1, \lfloor \min(H, W) / 8 \rfloor)`:
  4 px for 32×32 (CIFAR-10's usual padding) and 34×34, 3 px for 28×28 (about the common 10 % translation of digits),
  16 px for 128×128 DVS frames. Event samples ``[T, 2, H, W]`` shift all T frames and both polarities together.
* ``crop_flip``: ``crop``, then a horizontal mirror :math:`\tilde x[\dots, j] \leftarrow \tilde x[\dots, W-1-j]`
  with probability 1/2 per sample. Only for datasets whose classes survive a mirror (``DatasetInfo.hflip_ok``):
  not digits (a mirrored 2, 3, 7 is no digit) and not DVS128 Gesture (left- and right-hand gestures swap).

Draw order per batch: the ``[B, 2]`` offsets (``randint``), then the ``[B]`` flip draws (``rand < 0.5``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

AUGMENTS = ("none", "crop", "crop_flip")


def crop_padding_px(height: int, width: int) -> int:
    """Zero padding ``p`` of the random crop: ``max(1, min(H, W) // 8)`` pixels."""
    return max(1, min(height, width) // 8)


def crop_at(x: Tensor, offsets: Tensor, padding_px: int) -> Tensor:
    """Crop each sample of ``x [B, ..., H, W]`` from its zero-padded copy at ``offsets [B, 2]`` = ``(o_y, o_x)``."""
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    p = padding_px
    padded = F.pad(x.reshape(batch, -1, height, width), (p, p, p, p))
    rows = offsets[:, 0, None] + torch.arange(height, device=x.device)  # [B, H]
    cols = offsets[:, 1, None] + torch.arange(width, device=x.device)  # [B, W]
    b = torch.arange(batch, device=x.device)[:, None, None]
    out = padded[b, :, rows[:, :, None], cols[:, None, :]]  # [B, H, W, K]
    return out.permute(0, 3, 1, 2).reshape(x.shape)


def flip_where(x: Tensor, flip: Tensor) -> Tensor:
    """Mirror the samples of ``x [B, ..., W]`` whose ``flip [B]`` is true along the last (x) axis."""
    mask = flip.view(-1, *([1] * (x.dim() - 1)))
    return torch.where(mask, x.flip(-1), x)


def augment_batch(x: Tensor, augment: str, generator: torch.Generator | None = None) -> Tensor:
    """``x [B, C, H, W]`` (images) or ``[B, T, 2, H, W]`` (frames) augmented by ``augment`` (module docstring)."""
    if augment == "none":
        return x
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, got {augment!r}")
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    p = crop_padding_px(height, width)
    device = generator.device if generator is not None else x.device
    offsets = torch.randint(0, 2 * p + 1, (batch, 2), generator=generator, device=device).to(x.device)
    x = crop_at(x, offsets, p)
    if augment == "crop_flip":
        flip = torch.rand(batch, generator=generator, device=device).to(x.device) < 0.5
        x = flip_where(x, flip)
    return x
