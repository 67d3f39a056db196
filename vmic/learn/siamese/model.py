"""Siamese regressor from pyramid phase maps to the displacement signal.

One encoder with shared weights (the Siamese pair) embeds the reference frame's and the
current frame's feature maps (:func:`vmic.learn.siamese.inputs.model_inputs`); the two
embeddings are joined (both, and their difference) and a 1x1 head gives a weight for every
band and tile. The frame's sample is the weighted sum of its signed phase-change maps::

    y_t = sum_{c,i,j} W_ref[c,i,j] * g(enc(f_ref), enc(f_t))[c,i,j] * phase_t[c,i,j]

with ``W_ref`` the reference's relative tile energy (the classical A**2 prior) and ``g`` the
learned correction. Features are even in the phase, so the output is odd in the motion: no
motion gives exactly 0 and the sign of the motion carries through. Two designs:

``frame``  (``taps=0``)
    one sample per frame pair;
``context`` (``taps=n``)
    the same, followed by a learned temporal filter over ``2n + 1`` neighbouring frames'
    outputs (initialised to the identity), so the model sees a short window of frames.

Weights are saved as a flat dict of tensors plus plain config values
(:func:`state_for_saving`), loadable with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import torch
from torch import nn

from vmic.errors import VmicError

__all__ = ["SiameseRegressor", "state_for_saving", "model_from_state", "FORMAT"]

FORMAT = "vmic-siamese-1"


class SiameseRegressor(nn.Module):
    """Siamese phase-map regressor.

    Parameters
    ----------
    channels : int
        Bands C = scales * orientations of the input maps.
    width : int
        Encoder feature channels.
    taps : int
        Half-length of the temporal filter (0: the per-frame design).
    """

    def __init__(self, channels: int = 4, width: int = 16, taps: int = 0):
        super().__init__()
        self.channels = int(channels)
        self.width = int(width)
        self.taps = int(taps)
        self.encoder = nn.Sequential(
            nn.Conv2d(2 * channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.Conv2d(3 * width, width, 1), nn.ReLU(),
            nn.Conv2d(width, channels, 1),
        )
        # Start at the prior: the correction g is 1 everywhere.
        nn.init.zeros_(self.head[2].weight)
        nn.init.ones_(self.head[2].bias)
        if self.taps:
            self.temporal = nn.Conv1d(1, 1, 2 * self.taps + 1, padding=self.taps, bias=False)
            with torch.no_grad():
                self.temporal.weight.zero_()
                self.temporal.weight[0, 0, self.taps] = 1.0

    def encode_reference(self, features_ref: torch.Tensor) -> torch.Tensor:
        """Embedding of reference features (N, 2C, gy, gx) -> (N, width, gy, gx)."""
        return self.encoder(features_ref)

    def frame_outputs(self, phase: torch.Tensor, features: torch.Tensor,
                      reference_embedding: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """One sample per frame (before the temporal filter).

        Parameters
        ----------
        phase : Tensor, shape (B, C, gy, gx)
            Signed phase-change maps (rad).
        features : Tensor, shape (B, 2C, gy, gx)
            Current frames' features.
        reference_embedding : Tensor, shape (B or 1, width, gy, gx)
            :meth:`encode_reference` of the reference features.
        weights : Tensor, shape (B or 1, C, gy, gx)
            Prior tile weights (relative reference energy).

        Returns
        -------
        Tensor, shape (B,)
            Samples (rad-weighted units; the scale is arbitrary up to a constant per clip).
        """
        current = self.encoder(features)
        reference = reference_embedding.expand_as(current)
        joined = torch.cat([current, reference, current - reference], dim=1)
        correction = self.head(joined)
        return (weights * correction * phase).sum(dim=(1, 2, 3)) / phase[0].numel()

    def temporal_filter(self, samples: torch.Tensor) -> torch.Tensor:
        """Apply the temporal filter to (N, T) samples (identity for ``taps=0``)."""
        if not self.taps:
            return samples
        return self.temporal(samples[:, None])[:, 0]

    def forward(self, phase: torch.Tensor, features: torch.Tensor, features_ref: torch.Tensor,
                weights: torch.Tensor) -> torch.Tensor:
        """Samples of windows of frames.

        Parameters
        ----------
        phase : Tensor, shape (N, L, C, gy, gx)
        features : Tensor, shape (N, L, 2C, gy, gx)
        features_ref : Tensor, shape (N, 2C, gy, gx)
        weights : Tensor, shape (N, C, gy, gx)

        Returns
        -------
        Tensor, shape (N, L)
        """
        n, length = phase.shape[:2]
        reference = self.encode_reference(features_ref)
        reference = reference[:, None].expand(n, length, *reference.shape[1:])
        w = weights[:, None].expand(n, length, *weights.shape[1:])
        flat = self.frame_outputs(phase.flatten(0, 1), features.flatten(0, 1),
                                  reference.flatten(0, 1), w.flatten(0, 1))
        return self.temporal_filter(flat.view(n, length))

    def config(self) -> dict:
        return {"channels": self.channels, "width": self.width, "taps": self.taps}


def state_for_saving(model: SiameseRegressor, spec: dict, extra: dict | None = None) -> dict:
    """A dict of tensors and plain values that ``torch.load(weights_only=True)`` reads back."""
    return {
        "format": FORMAT,
        "config": model.config(),
        "spec": dict(spec),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }


def model_from_state(state: dict) -> tuple[SiameseRegressor, dict]:
    """Rebuild a model from :func:`state_for_saving`'s dict.

    Returns
    -------
    model : SiameseRegressor
        In eval mode.
    spec : dict
        The map spec (scales, orientations, grid).
    """
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise VmicError("not a vmic Siamese model file (format tag missing or different)")
    try:
        model = SiameseRegressor(**state["config"])
        model.load_state_dict(state["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise VmicError(f"model file does not match the Siamese regressor: {exc}") from None
    model.eval()
    return model, dict(state["spec"])
