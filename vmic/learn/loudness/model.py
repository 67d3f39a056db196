"""CNN-LSTM that predicts each frame's loudness (dB) from silent ordinary-rate video.

After the silent-film study ("How loud are silent films?"): frame ``i`` becomes the space-time
image ``x_i = [f(k_{i-1}), f(k_i), f(k_{i+1})]`` (grey, resized to ``size`` x ``size`` px,
scaled to [-1, 1]; the first and last frames repeat at the ends), a small CNN (trained here;
no pretrained weights) embeds it, an LSTM carries state across frames and a linear layer gives
the dB. Loss: mean squared error against the truth dB of each frame's audio chunk
(:func:`vmic.loudness.frame_loudness_db`). Two variants:

``end2end``
    CNN, LSTM and head trained together from scratch.
``frozen``
    The variant the study preferred: the CNN is first pre-trained per frame (one space-time
    image -> dB through a linear head), then frozen while the LSTM and head are trained.

Training (:mod:`vmic.learn.loudness.train`) uses clips of :mod:`vmic.synth.impacts` (train/val
seeds from disjoint ranges); ``python -m vmic.learn.loudness.train --out PATH`` makes a weights
file (see ``docs/loudness.md`` for the exact command that made the shipped weights).

Weights are a flat dict of tensors plus a few numbers, saved with :func:`torch.save` and read
with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vmic.errors import VmicError

__all__ = [
    "DEFAULT_WEIGHTS",
    "RATES_WEIGHTS",
    "default_weights",
    "MODEL_FRAME_RATE",
    "resize_frames",
    "space_time_images",
    "LoudnessCNN",
    "CNNLSTM",
    "predict_clips",
    "save_weights",
    "load_weights",
    "predict_db",
]

#: Shipped weights for 30 fps clips (trained by the command in docs/loudness.md).
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "loudness_cnnlstm.pt"
#: Shipped weights for 15-30 fps clips (trained on both rates, with the rate as an input).
RATES_WEIGHTS = DEFAULT_WEIGHTS.with_name("loudness_cnnlstm.rates.pt")
#: Reference frame rate, frames/s: the 30 fps model's training rate, and the rate at which the
#: rate input ``log2(fps / 30)`` is zero.
MODEL_FRAME_RATE = 30.0


def default_weights(fps: float | None = None) -> Path:
    """Shipped weights for a clip at ``fps`` frames/s: the 30 fps model within 5 % of 30 fps
    (or when ``fps`` is None), else the 15-30 fps model (if installed)."""
    if fps is None or abs(fps / MODEL_FRAME_RATE - 1.0) <= 0.05 or not RATES_WEIGHTS.is_file():
        return DEFAULT_WEIGHTS
    return RATES_WEIGHTS


# ---------------------------------------------------------------- inputs


def resize_frames(frames: np.ndarray, size: int, *, intensity_max: float = 255.0) -> np.ndarray:
    """Grey frames resized to ``size`` x ``size`` px (area average), as uint8.

    Parameters
    ----------
    frames : array_like, shape (T, H, W)
        Grey frames in [0, ``intensity_max``] (any dtype).
    size : int
        Output side, px.
    intensity_max : float
        White level of the input (255 for 8-bit video).

    Returns
    -------
    numpy.ndarray of uint8, shape (T, size, size)
    """
    import cv2

    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise ValueError(f"frames must be (T, H, W), got shape {frames.shape}")
    scaled = np.clip(frames.astype(np.float32) * (255.0 / float(intensity_max)), 0, 255)
    out = np.empty((frames.shape[0], size, size), dtype=np.uint8)
    for i, frame in enumerate(scaled):
        out[i] = np.clip(np.rint(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)),
                         0, 255).astype(np.uint8)
    return out


def space_time_images(frames_uint8: torch.Tensor) -> torch.Tensor:
    """Space-time images ``[f(k_{i-1}), f(k_i), f(k_{i+1})]`` scaled to [-1, 1].

    Parameters
    ----------
    frames_uint8 : torch.Tensor of uint8, shape (B, T, H, W)
        Resized grey frames; the first and last frame stand in for their missing neighbours.

    Returns
    -------
    torch.Tensor of float32, shape (B, T, 3, H, W)
    """
    x = frames_uint8.float() / 127.5 - 1.0
    prev = torch.cat([x[:, :1], x[:, :-1]], dim=1)
    following = torch.cat([x[:, 1:], x[:, -1:]], dim=1)
    return torch.stack([prev, x, following], dim=2)


# ---------------------------------------------------------------- models


class LoudnessCNN(nn.Module):
    """Small CNN: space-time image (N, 3, S, S) -> feature vector (N, ``features``)."""

    def __init__(self, size: int = 64, width: int = 16, features: int = 128):
        super().__init__()
        layers, channels = [], 3
        side = size
        for out_channels, kernel in ((width, 5), (2 * width, 3), (4 * width, 3), (4 * width, 3)):
            layers += [nn.Conv2d(channels, out_channels, kernel, stride=2, padding=kernel // 2),
                       nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
            channels, side = out_channels, (side + 1) // 2
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, features),
                                nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (N, F) of space-time images (N, 3, S, S) in [-1, 1]."""
        return self.fc(self.conv(x))


class CNNLSTM(nn.Module):
    """CNN per space-time image, LSTM across frames, linear dB output.

    ``forward(x, fps)`` maps space-time images (B, T, 3, S, S) to dB (B, T) (float32, dB).
    The network works on normalised dB ``(dB - db_mean) / db_std`` (buffers, from the
    training set); ``per_frame_head`` is the linear head used while pre-training the CNN
    alone. With ``rate_input`` the frame rate enters beside the CNN features as
    ``log2(fps / 30)``: the same displacement per frame means twice the speed (+6 dB) at twice
    the rate, which the frames alone cannot tell.
    """

    def __init__(self, size: int = 64, width: int = 16, features: int = 128, hidden: int = 64,
                 rate_input: bool = False):
        super().__init__()
        extra = 1 if rate_input else 0
        self.cnn = LoudnessCNN(size, width, features)
        self.lstm = nn.LSTM(features + extra, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        self.per_frame_head = nn.Linear(features + extra, 1)
        self.register_buffer("db_mean", torch.tensor(0.0))
        self.register_buffer("db_std", torch.tensor(1.0))
        self.config = {"size": size, "width": width, "features": features, "hidden": hidden,
                       "rate_input": bool(rate_input)}

    def embed(self, x: torch.Tensor, fps: float | torch.Tensor | None = None) -> torch.Tensor:
        """CNN features (B, T, F) of space-time images, plus the rate feature if used."""
        b, t = x.shape[:2]
        features = self.cnn(x.reshape(b * t, *x.shape[2:])).reshape(b, t, -1)
        if not self.config["rate_input"]:
            return features
        fps = torch.as_tensor(MODEL_FRAME_RATE if fps is None else fps, dtype=features.dtype)
        rate = torch.log2(fps.reshape(-1, 1, 1) / MODEL_FRAME_RATE).expand(b, t, 1)
        return torch.cat([features, rate], dim=-1)

    def forward_normalised(self, x: torch.Tensor,
                           fps: float | torch.Tensor | None = None) -> torch.Tensor:
        """Normalised dB (B, T) (before ``db_std`` and ``db_mean``) of (B, T, 3, S, S) images."""
        out, _ = self.lstm(self.embed(x, fps))
        return self.head(out).squeeze(-1)

    def per_frame_normalised(self, x: torch.Tensor,
                             fps: float | torch.Tensor | None = None) -> torch.Tensor:
        """Normalised dB (B, T) of (B, T, 3, S, S) images from the per-frame head (no LSTM)."""
        return self.per_frame_head(self.embed(x, fps)).squeeze(-1)

    def forward(self, x: torch.Tensor, fps: float | torch.Tensor | None = None) -> torch.Tensor:
        """dB (B, T) of space-time images (B, T, 3, S, S) at ``fps`` (scalar or (B,), Hz)."""
        return self.forward_normalised(x, fps) * self.db_std + self.db_mean


# ---------------------------------------------------------------- inference


@torch.no_grad()
def predict_clips(model: CNNLSTM, frames_uint8: np.ndarray,
                  fps: float | np.ndarray | None = None, *,
                  chunk: int = 8) -> np.ndarray:
    """Predicted dB of every frame of resized clips.

    Parameters
    ----------
    frames_uint8 : numpy.ndarray of uint8, shape (N, T, S, S)
    fps : float or array_like of shape (N,), optional
        Frame rate of each clip, frames/s (default 30; used by models with ``rate_input``).
    chunk : int
        Clips per forward pass.

    Returns
    -------
    numpy.ndarray of float64, shape (N, T), dB
    """
    model.eval()
    n = frames_uint8.shape[0]
    rates = np.broadcast_to(np.asarray(MODEL_FRAME_RATE if fps is None else fps,
                                       dtype=np.float32), (n,))
    out = []
    for start in range(0, n, chunk):
        x = space_time_images(torch.from_numpy(np.ascontiguousarray(
            frames_uint8[start:start + chunk])))
        out.append(model(x, torch.from_numpy(rates[start:start + chunk].copy())).double().numpy())
    return np.concatenate(out)


# ---------------------------------------------------------------- weights


def save_weights(model: CNNLSTM, path: str | os.PathLike, meta: dict) -> None:
    """Save the state dict, architecture and ``meta`` numbers (atomic; torch.save format)."""
    from vmic.io.atomic import atomic_path

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "config": dict(model.config),
               "meta": {k: v for k, v in meta.items() if isinstance(v, (int, float, str))}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_weights(path: str | os.PathLike | None = None) -> tuple[CNNLSTM, dict]:
    """Load a model saved by :func:`save_weights` (``weights_only=True``: no pickle code).

    Returns
    -------
    (CNNLSTM, dict)
        The model in eval mode, and its meta numbers (``threshold_db``, ``fps``, ...).
    """
    from vmic.learn.checkpoint import load_state

    path = Path(DEFAULT_WEIGHTS if path is None else path)
    payload = load_state(path, what="loudness weights")
    try:
        model = CNNLSTM(**payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise VmicError(f"loudness weights {path} are not CNN-LSTM weights "
                        f"({type(exc).__name__}: {exc})") from None
    model.eval()
    return model, dict(payload.get("meta", {}))


def predict_db(frames: np.ndarray, *, weights: str | os.PathLike | None = None,
               intensity_max: float = 255.0,
               fps: float | None = None) -> tuple[np.ndarray, dict]:
    """Predicted loudness (dB) of every frame of a grey clip.

    Parameters
    ----------
    frames : array_like, shape (T, H, W)
        Grey frames in [0, ``intensity_max``], at a frame rate the model was trained for
        (``meta["frame_rates"]``).
    weights : path, optional
        Weights file (default: :func:`default_weights` of ``fps``).
    intensity_max : float
        White level of ``frames``.
    fps : float, optional
        Frame rate of the clip, frames/s (default 30).

    Returns
    -------
    (numpy.ndarray of float64 shape (T,), dict)
        dB per frame (on the training audio's scale), and the weights' meta numbers.
    """
    model, meta = load_weights(default_weights(fps) if weights is None else weights)
    small = resize_frames(frames, model.config["size"], intensity_max=intensity_max)
    return predict_clips(model, small[None], fps)[0], meta
