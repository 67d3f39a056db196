"""Synthetic high-speed clips with a known truth (``vmic synth``).

A clip is rendered from a source signal (:mod:`vmic.synth.sources`), a scene and a motion shape
(:mod:`vmic.synth.scene`), warped in floating point and passed through a camera model
(:mod:`vmic.synth.engine`). Everything is fixed by :class:`SynthConfig`, seed included, so the
same configuration renders the same bytes.

Python API::

    from vmic.synth import SynthConfig, synthesize, render
    clip = synthesize(SynthConfig(source="speech", motion="membrane", amplitude_px=0.05))
    clip.frames      # (T, H, W) uint8/uint16/float32
    clip.truth       # float64 (T,), displacement in px at the reference point
    clip.sidecar     # dict: fps, every parameter, seed, Cramér-Rao bound
    render("out.avi", "out_truth.wav", SynthConfig(...))   # writes clip, truth WAV, out.json
    clip = synthesize(SynthConfig(drift_kind="walk", drift_speed_px_s=5.0))
    clip.drift       # float64 (T, 2), the camera drift (dx, dy) in px (not the truth)

Outputs of :func:`render`: the clip (``.avi``/``.mkv``: lossless FFV1, 8 bit only, nominal
playback rate 30 fps in the container; ``.npy``: (T, H, W) stack, any bit depth or float32;
a folder: 8/16-bit PNG frames ``frame_000000.png``...), the sidecar ``Path(out).with_suffix(
".json")`` and the truth WAV: the displacement ``s(t)`` in **px** (float32 WAV at the capture
rate, not normalised, so the samples are physical units; most players clip above 1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vmic import __version__
from vmic.errors import VmicError
from vmic.io.atomic import atomic_path
from vmic.synth import drift as _drift
from vmic.synth import engine as _render
from vmic.synth.config import SynthConfig, validate
from vmic.synth.response import response_sidecar, true_response

__all__ = ["SynthConfig", "Synthesis", "synthesize", "render", "PLAYBACK_FPS", "sidecar_path",
           "true_response"]

PLAYBACK_FPS = 30.0
"""Nominal playback rate written in video containers (they cannot hold kHz rates)."""

VIDEO_SUFFIXES = (".avi", ".mkv")


@dataclass
class Synthesis:
    """An in-memory clip: frames, truth and sidecar (and the drift, which is not the truth)."""

    frames: np.ndarray  # (T, H, W) uint8 / uint16 / float32
    truth: np.ndarray  # float64 (T,), px
    sidecar: dict
    drift: np.ndarray | None = None  # float64 (T, 2) camera drift (dx, dy) px, None if still
    regions: np.ndarray | None = None  # float64 (2, T, 2) regions A, B's own translation, px
    played: np.ndarray | None = None  # float64 (T,) the played sound, peak 1 (unitless)


def _streams(seed: int):
    # "regions" comes last: the first five streams are those of clips made before it existed
    seq = np.random.SeedSequence(int(seed))
    names = ("source", "object", "background", "drift", "camera", "regions")
    return {name: np.random.default_rng(child) for name, child in zip(names, seq.spawn(6),
                                                                       strict=True)}


def _canvas(cfg: SynthConfig, drift: np.ndarray, regions: np.ndarray | None) -> tuple:
    """Canvas shape and the frame's origin on it: the frame itself unless there is drift."""
    need = _drift.required_margin(drift, regions)
    margin = need
    if cfg.drift_margin_px is not None:
        if cfg.drift_margin_px < max(need):
            raise VmicError(f"drift margin (--drift-margin) {cfg.drift_margin_px} px is smaller "
                            f"than the drift needs ({max(need)} px)")
        margin = (cfg.drift_margin_px, cfg.drift_margin_px)
    return _drift.canvas_layout((cfg.height, cfg.width), margin)


def _drift_sidecar(cfg: SynthConfig, drift: np.ndarray, regions: np.ndarray | None,
                   sc) -> dict:
    """The sidecar's ``drift`` entry: what moved, the tracks per frame (px), the canvas."""
    out = {
        "kind": cfg.drift_kind,
        "units": "px",
        "what": "camera translation g(t) = (dx, dy) of the whole scene at each frame time: "
                "frame t shows the undrifted scene at x - g(t) (the truth's reference point "
                "is at reference_point_xy + g(t)); not part of the truth",
        "when": "the frame time (every exposure sub-sample and rolling-shutter row sees it)",
        "rounding_px": 10.0 ** -_drift.TRACK_DECIMALS,
        "canvas_shape": [int(v) for v in sc.obj.shape],
        "frame_origin": [int(v) for v in sc.origin],
        **_drift.track_summary(drift, cfg.fps),
    }
    if regions is not None:
        out["regions"] = {
            "what": "each region's own translation (px) on top of the camera's: A is the "
                    "object's left half (the truth's reference), B its right half",
            "mode": cfg.region_drift_mode,
            "A": _drift.track_summary(regions[0], cfg.fps),
            "B": _drift.track_summary(regions[1], cfg.fps),
        }
    return out


def _prepare(cfg: SynthConfig, lo_hz: float | None):
    from vmic import metrics

    validate(cfg)
    lo_hz = metrics.DEFAULT_LO_HZ if lo_hz is None else lo_hz
    n = cfg.n_frames()
    rngs = _streams(cfg.seed)
    played, truth, scale = _render.played_and_truth(cfg, n, rngs["source"])
    drift = _drift.camera_track(cfg, n, rngs["drift"])
    regions = _drift.region_tracks(cfg, n, rngs["regions"])
    canvas_shape, origin = _canvas(cfg, drift, regions)
    sc = _render.build_scene(cfg, rngs["object"], rngs["background"],
                             canvas_shape=canvas_shape, origin=origin)
    sidecar = {
        "fps": float(cfg.fps),
        "playback_fps": PLAYBACK_FPS,
        "seed": int(cfg.seed),
        "n_frames": n,
        "frame_shape": [cfg.height, cfg.width],
        "dtype": np.dtype(_render.output_dtype(cfg.bits)).name,
        "intensity_units": f"DN ({cfg.bits} bit)" if cfg.bits else "relative to full well",
        "truth": {
            "units": "px",
            "what": "displacement of the reference point along the motion direction",
            "reference_point_xy": [float(v) for v in sc.reference],
            "direction_xy": [float(v) for v in sc.direction],
            "peak_px": float(np.max(np.abs(truth))),
        },
        "params": cfg.to_dict(),
        "crb": _render.cramer_rao(cfg, sc, truth, lo_hz),
        "response": response_sidecar(cfg.modes(), scale, cfg.fps),
        "vmic_version": __version__,
    }
    if sc.on_canvas:
        sidecar["drift"] = _drift_sidecar(cfg, drift, regions, sc)
        sidecar["crb"]["drift"] = "computed on the undrifted scene (the frame at zero drift)"
    return n, truth, sc, drift, regions, rngs["camera"], sidecar, played


def iter_frames(cfg: SynthConfig, *, lo_hz: float | None = None,
                tracks: bool = False, played: bool = False) -> tuple:
    """Set up a clip: returns ``(sidecar, truth, frames)`` where ``frames`` is a generator.

    With ``tracks``, returns ``(sidecar, truth, frames, drift, regions)``: the camera drift
    float64 (T, 2) px (zeros when still) and the regions' own translations (2, T, 2) or None.
    With ``played``, the played sound (float64 (T,), peak 1) is appended to either tuple.
    """
    n, truth, sc, drift, regions, rng_cam, sidecar, sound = _prepare(cfg, lo_hz)

    def frames():
        for frame in _render.render_layers(cfg, sc, truth, drift, regions):
            yield _render.expose(frame, cfg, rng_cam)

    out = (sidecar, truth, frames(), drift, regions) if tracks else (sidecar, truth, frames())
    return (*out, sound) if played else out


def synthesize(cfg: SynthConfig, *, lo_hz: float | None = None,
               quiet: bool = True) -> Synthesis:
    """Render a clip in memory.

    Parameters
    ----------
    cfg : SynthConfig
        All parameters.
    lo_hz : float, optional
        Low edge (Hz) of the band of the Cramér-Rao SNR bound (default: the metrics' 20 Hz).
    quiet : bool
        No progress bar.

    Returns
    -------
    Synthesis
        ``frames`` (T, H, W), ``truth`` float64 (T,) in px, ``sidecar`` dict.
    """
    sidecar, truth, frames, drift, regions, played = iter_frames(cfg, lo_hz=lo_hz,
                                                                  tracks=True, played=True)
    out = np.empty((sidecar["n_frames"], cfg.height, cfg.width), _render.output_dtype(cfg.bits))
    with tqdm(total=len(out), desc="rendering", disable=quiet,
              file=sys.stderr, leave=False) as bar:
        for i, frame in enumerate(frames):
            out[i] = frame
            bar.update(1)
    still = not np.any(drift) and regions is None
    return Synthesis(out, truth, sidecar, None if still else drift, regions, played)


def sidecar_path(out: str | os.PathLike) -> Path:
    """The sidecar JSON of a clip: ``x.avi -> x.json``, folder ``x/`` -> ``x.json``."""
    out = Path(out)
    return out.with_suffix(".json") if out.suffix else out.with_name(out.name + ".json")


def _write_video(path: Path, frames, n: int, shape, bar) -> None:
    """Write 8-bit grey frames as lossless FFV1 (``gray``) at the nominal playback rate."""
    import av

    h, w = shape
    try:
        # bitexact: no muxer version or date in the file, so the same clip gives the same bytes
        container = av.open(str(path), mode="w", options={"fflags": "+bitexact"},
                            format="matroska" if path.suffix.lower() == ".mkv" else "avi")
    except (av.FFmpegError, OSError) as exc:
        raise VmicError(f"cannot write FFV1 video to {path}: {exc}") from None
    try:
        stream = container.add_stream("ffv1", rate=int(PLAYBACK_FPS))
        stream.width, stream.height, stream.pix_fmt = w, h, "gray"
        for frame in frames:
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="gray")
            container.mux(stream.encode(image))
            bar.update(1)
        container.mux(stream.encode(None))  # flush the encoder
    finally:
        container.close()


def _write_npy(path: Path, frames, n: int, shape, dtype, bar) -> None:
    stack = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n, *shape))
    for i, frame in enumerate(frames):
        stack[i] = frame
        bar.update(1)
    stack.flush()
    del stack


def _write_folder(path: Path, frames, bar) -> None:
    import cv2

    for i, frame in enumerate(frames):
        if not cv2.imwrite(str(path / f"frame_{i:06d}.png"), frame):
            raise VmicError(f"cannot write PNG frames into {path}")
        bar.update(1)


def write_truth(path: str | os.PathLike, truth: np.ndarray, fps: float) -> None:
    """Write the truth (T,) px as a float32 WAV at ``fps`` Hz (atomic, not normalised)."""
    from vmic.io.audio import write_wav

    if int(round(fps)) != fps:
        raise VmicError(f"a WAV needs an integer rate; the capture rate is {fps:g} fps")
    write_wav(path, truth, fps)


def render(out: str | os.PathLike, truth_path: str | os.PathLike | None, cfg: SynthConfig, *,
           quiet: bool = True, command: str | None = None, lo_hz: float | None = None,
           played_path: str | os.PathLike | None = None) -> dict:
    """Render a clip to ``out``, its truth WAV to ``truth_path`` and the sidecar JSON.

    Parameters
    ----------
    out : path-like
        ``.avi``/``.mkv`` (FFV1, 8 bit), ``.npy`` (any depth, float32 if ``bits`` is 0/None) or
        a folder (no suffix: PNG frames, 8/16 bit).
    truth_path : path-like or None
        Truth WAV (px, float32) — default ``<out stem>_truth.wav`` beside ``out``.
    cfg : SynthConfig
        All parameters.
    quiet : bool
        No progress bar.
    command : str, optional
        The command line that made the clip, stored in the sidecar.
    lo_hz : float, optional
        Low edge (Hz) of the band of the Cramér-Rao SNR bound.
    played_path : path-like, optional
        Also write the played sound here (float32 WAV at the capture rate, peak 1), the
        input of ``vmic calibrate --played``.

    Returns
    -------
    dict
        The sidecar (also written to :func:`sidecar_path`).
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix and suffix not in (*VIDEO_SUFFIXES, ".npy"):
        raise VmicError(f"unsupported output {out.name}: use .avi/.mkv (FFV1), .npy or a folder")
    if suffix in VIDEO_SUFFIXES and cfg.bits != 8:
        raise VmicError("FFV1 video is written at 8 bit only; use .npy or a folder of PNG for "
                        f"{cfg.bits or 'float'} frames")
    if not suffix and not cfg.bits:
        raise VmicError("a folder of PNG frames cannot hold float frames; use .npy")
    if not out.parent.is_dir():
        raise VmicError(f"output folder does not exist: {out.parent}")
    truth_path = Path(truth_path) if truth_path else out.with_name(out.stem + "_truth.wav")
    sidecar, truth, frames, played = iter_frames(cfg, lo_hz=lo_hz, played=True)
    if command:
        sidecar["command"] = command
    sidecar["truth"]["file"] = truth_path.name
    if played_path is not None:
        sidecar["played"] = {"file": Path(played_path).name,
                             "units": "unitless, peak 1 (the source before the object)"}
    n = sidecar["n_frames"]
    shape = (cfg.height, cfg.width)
    with tqdm(total=n, desc="rendering", disable=quiet,
              file=sys.stderr, leave=False) as bar:
        if suffix in VIDEO_SUFFIXES:
            with atomic_path(out) as tmp:
                _write_video(tmp, frames, n, shape, bar)
        elif suffix == ".npy":
            with atomic_path(out) as tmp:
                _write_npy(tmp, frames, n, shape, _render.output_dtype(cfg.bits), bar)
        else:
            _atomic_folder(out, lambda tmp: _write_folder(tmp, frames, bar))
    write_truth(truth_path, truth, cfg.fps)
    if played_path is not None:
        write_truth(played_path, played, cfg.fps)
    with atomic_path(sidecar_path(out)) as tmp:
        tmp.write_text(sidecar_json(sidecar))
    return sidecar


_LONG_LIST = re.compile(r"\[\n(?:\s*-?[0-9][0-9.eE+-]*,\n){16,}\s*-?[0-9][0-9.eE+-]*\n\s*\]")


def sidecar_json(sidecar: dict) -> str:
    """The sidecar as indented JSON, with lists of more than 16 numbers (tracks) on one line."""
    text = json.dumps(sidecar, indent=2)
    return _LONG_LIST.sub(
        lambda m: "[" + ", ".join(v.rstrip(",") for v in m.group(0)[1:-1].split()) + "]",
        text) + "\n"


def _atomic_folder(out: Path, fill) -> None:
    """Fill a temporary folder beside ``out`` and rename it onto ``out`` (replacing it)."""
    if out.exists() and not out.is_dir():
        raise VmicError(f"output exists and is not a folder: {out}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a folder output should not be
    try:
        fill(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
