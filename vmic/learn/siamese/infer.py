"""Learned recovery: ``vmic recover CLIP --method learned``.

The clip is streamed in batches through the pyramid
(:func:`vmic.learn.siamese.maps.clip_maps`); only
the small per-frame maps (C x 16 x 16 floats per frame, C = 1 for the shipped flow model)
are kept; consecutive batches overlap in two threads. Tile signs are fitted on the
whole clip (:func:`vmic.learn.siamese.inputs.tile_signs`), the Siamese regressor gives one
sample per frame, and the samples go through the classical default's post-processing:
zero-phase high-pass at 20 Hz (:func:`vmic.post.audible_highpass_hz`, or ``highpass_hz``) and
peak scaling to [-1, 1]. (The tile-sign fit alone high-passes at 0.05 of Nyquist, to keep slow
drift out.)
"""

from __future__ import annotations

import os
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from vmic import post
from vmic.errors import VmicError
from vmic.io.stream import opened_clip, progress_bar
from vmic.learn.siamese.inputs import model_inputs
from vmic.learn.siamese.maps import ClipMaps, MapSpec, clip_maps
from vmic.learn.siamese.model import SiameseRegressor, model_from_state
from vmic.recovery import Recovery, RecoveryInfo

if TYPE_CHECKING:  # annotations only
    from vmic.io.clip import Clip

__all__ = ["default_model_path", "load_model", "predict_samples", "finish_audio",
           "recover_learned"]

DEFAULT_WEIGHTS = "siamese.pt"


def default_model_path() -> Path:
    """Path of the shipped weights (``vmic/weights/siamese.pt``)."""
    return Path(str(resources.files("vmic") / "weights" / DEFAULT_WEIGHTS))


def load_model(path: str | os.PathLike | None = None) -> tuple[SiameseRegressor, MapSpec]:
    """Load weights saved by ``vmic train`` (``torch.load(..., weights_only=True)``).

    Parameters
    ----------
    path : path-like, optional
        Model file; default :func:`default_model_path`.

    Returns
    -------
    model : SiameseRegressor
        In eval mode.
    spec : MapSpec
    """
    from vmic.learn.checkpoint import load_state

    path = default_model_path() if path is None else Path(path)
    state = load_state(path, what="model")
    try:
        model, spec = model_from_state(state)
        return model, MapSpec(**spec)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise VmicError(f"model {path} is not a learned-recovery model saved by vmic train "
                        f"({type(exc).__name__}: {exc})") from None


def predict_samples(model: SiameseRegressor, maps: ClipMaps, *, batch_size: int = 256,
                    signs: np.ndarray | None = None) -> np.ndarray:
    """The model's raw samples for a clip (before high-pass and scaling).

    Parameters
    ----------
    model : SiameseRegressor
    maps : ClipMaps
    batch_size : int
        Frames per forward pass.
    signs : ndarray of float32, shape (C, gy, gx), optional
        Tile signs (default: fitted on the clip).

    Returns
    -------
    ndarray of float64, shape (T,)
    """
    phase, features, features_ref, weights = model_inputs(maps, signs)
    out = np.empty(phase.shape[0], dtype=np.float64)
    # One intra-op thread: the network is tiny (per batch, less work than the threads'
    # hand-offs cost), and with a busy CPU the extra threads only wait for each other.
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = _forward(model, phase, features, features_ref, weights, batch_size, out)
    finally:
        torch.set_num_threads(previous_threads)
    return out


def _forward(model, phase, features, features_ref, weights, batch_size, out):
    with torch.inference_mode():
        ref = model.encode_reference(torch.from_numpy(features_ref)[None])
        w = torch.from_numpy(weights)[None]
        for i in range(0, phase.shape[0], batch_size):
            sl = slice(i, i + batch_size)
            y = model.frame_outputs(torch.from_numpy(phase[sl]), torch.from_numpy(features[sl]),
                                    ref, w)
            out[sl] = y.double().numpy()
        if model.taps:
            out = model.temporal_filter(torch.from_numpy(out)[None].float())[0].double().numpy()
    return out


def finish_audio(samples: np.ndarray, sr: float, *,
                 highpass_hz: float | None = None) -> np.ndarray:
    """Mean removal, zero-phase high-pass and peak scaling.

    Parameters
    ----------
    samples : ndarray of float, shape (T,)
        Raw model samples.
    sr : float
        Sample rate (Hz): the capture rate.
    highpass_hz : float, optional
        Cutoff (Hz); default 20 Hz (:func:`vmic.post.audible_highpass_hz`), as the classical
        default path: the original's 0.05 of Nyquist (55 Hz at 2200 fps) removes the low
        part of speech and pink noise (``docs/learned.md``).

    Returns
    -------
    ndarray of float32, shape (T,), in [-1, 1]
    """
    cutoff = post.audible_highpass_hz(sr) if highpass_hz is None else highpass_hz
    x = np.asarray(samples, dtype=np.float64)
    x = x - x.mean()
    if x.size > 12:
        x = post.highpass(x, sr, cutoff)
    return post.scale_peak(x).astype(np.float32)


def recover_learned(clip: str | os.PathLike | Clip | np.ndarray,
                    *, model_path: str | os.PathLike | None = None,
                    fps: float | None = None, roi: tuple[int, int, int, int] | None = None,
                    downsample: int = 1, start: int = 0, n_frames: int | None = None,
                    reference_frame: int = 0, quiet: bool = True,
                    model: tuple[SiameseRegressor, MapSpec] | None = None,
                    batch_size: int = 64, segment: int | None = None) -> Recovery:
    """Recover sound with the learned Siamese regressor.

    Parameters
    ----------
    clip : str, Path, Clip or ndarray
        As :func:`vmic.recovery.recover` (an ndarray (T, H, W) needs ``fps``).
    model_path : path-like, optional
        Weights (default: the shipped model).
    fps, roi, downsample, start, n_frames, reference_frame
        Frame selection, as :func:`vmic.recovery.recover`.
    quiet : bool
        No progress bar.
    model : (SiameseRegressor, MapSpec), optional
        An already loaded model (skips loading ``model_path``).
    batch_size : int
        Frames per pyramid batch.
    segment : int, optional
        The segment of a variable-rate video (:func:`vmic.io.clip.open_clip`).

    Returns
    -------
    vmic.recovery.Recovery
        ``audio`` float32 (T,) in [-1, 1], ``sr`` (Hz), ``band_signals`` empty (0, 0, T),
        ``info.combine == info.method == "learned"``.
    """
    started = time.perf_counter()
    net, spec = load_model(model_path) if model is None else model
    with opened_clip(clip, fps=fps, roi=roi, downsample=downsample, start=start,
                     n_frames=n_frames, segment=segment) as source:
        bar = progress_bar(source.n_frames, "recover (learned)", quiet)
        try:
            maps = clip_maps(source, spec, reference_frame=reference_frame,
                             batch_size=batch_size, bar=bar)
        finally:
            bar.close()
        sr = float(source.capture_fps)
        frame_shape = tuple(source.frame_shape)
        fps_source = source.fps_source
    samples = predict_samples(net, maps)
    audio = finish_audio(samples, sr)
    info = RecoveryInfo(frames=int(audio.size), frame_shape=frame_shape, scales=spec.scales,
                        orientations=spec.orientations, tiles=tuple(maps.phase.shape[-2:]),
                        reference_average=1, fps_source=fps_source, combine="learned",
                        method="learned", model=str(model_path or default_model_path()))
    info.elapsed_s = time.perf_counter() - started
    return Recovery(audio=audio, sr=sr,
                    band_signals=np.zeros((0, 0, audio.size), dtype=np.float64),
                    weights=None, info=info)
