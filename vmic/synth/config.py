"""The parameters of a synthetic clip (:class:`SynthConfig`) and their check (:func:`validate`).

:mod:`vmic.synth.engine` renders a clip from them; :mod:`vmic.synth` writes it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from vmic.errors import VmicError
from vmic.synth import sources

__all__ = ["SynthConfig", "validate", "MAX_FIELD_AMPLITUDE_PX", "DRIFT_KINDS",
           "REGION_DRIFT_MODES", "MAX_WALK_CUTOFF_HZ"]

MAX_FIELD_AMPLITUDE_PX = 2.0
"""Largest sound-driven displacement (px) of a motion field (Taylor series); not the drift's."""

DRIFT_KINDS = ("sine", "pan", "walk")
REGION_DRIFT_MODES = ("opposite", "independent")
MAX_WALK_CUTOFF_HZ = 20.0
"""The random walk's velocity is low-passed at most here, below the audio band."""


@dataclass
class SynthConfig:
    """Every parameter of a synthetic clip (all stored in the sidecar JSON).

    Units: rates in Hz (frames/s), sizes and displacements in px, angles in degrees, noise in
    electrons (e-), intensities relative to the full well (0..1).
    """

    fps: float = 2200.0
    duration_s: float | None = 1.0
    height: int = 96
    width: int = 96
    # source
    source: str = "tones"
    tones_hz: tuple = sources.DEFAULT_TONES_HZ
    chirp_hz: tuple = (100.0, None)
    wav: str | None = None
    wav_offset_s: float = 0.0
    # modes of the object between sound and motion: one value or one per mode (see modes())
    resonance_hz: float | tuple | None = None
    resonance_q: float | tuple = 10.0
    resonance_gain: tuple | None = None
    # motion
    motion: str = "global"
    amplitude_px: float = 0.05
    direction_deg: float = 0.0
    mode: tuple = (1, 1)
    # slow camera drift (not part of the truth; see vmic.synth.drift); no drift by default
    drift_kind: str = "sine"  # sine | pan | walk
    drift_px: float = 0.0  # sine: peak px on each axis
    drift_hz: float = 0.5  # sine: frequency (Hz)
    drift_speed_px_s: float = 0.0  # pan: speed; walk: RMS speed (px/s)
    drift_direction_deg: float = 0.0  # pan: direction, degrees from +x towards +y
    drift_cutoff_hz: float = 10.0  # walk: low-pass of the velocity (Hz, <= 20)
    region_drift_px: float = 0.0  # two_regions: peak px of each region's own translation
    region_drift_hz: float = 0.5  # two_regions: its frequency (Hz)
    region_drift_mode: str = "opposite"  # opposite (B = -A) | independent
    drift_margin_px: int | None = None  # canvas margin (px); None = automatic
    # scene
    texture: str = "noise"
    image: str | None = None
    object: str = "disk"
    object_size: float = 0.7
    mean_level: float = 0.5
    contrast: float = 0.35
    background_texture: str = "noise"
    background_contrast: float = 0.15
    # camera
    bits: int | None = 8
    full_well_e: float = 10000.0
    read_noise_e: float = 0.0
    shot_noise: bool = False
    exposure: float = 0.0
    exposure_samples: int = 8
    line_delay_s: float = 0.0
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def n_frames(self) -> int:
        """Number of frames (from ``duration_s``, or the WAV's duration when it is None)."""
        duration = self.duration_s
        if duration is None:
            if self.source != "wav" or self.wav is None:
                raise VmicError("a duration is needed unless the source is a WAV file")
            duration = sources.wav_duration_s(self.wav) - self.wav_offset_s
        n = int(round(duration * self.fps))
        if n < 2:
            raise VmicError(f"the clip would have {n} frame(s); give a longer duration")
        return n

    def modes(self) -> list[tuple[float, float, float]]:
        """The object's modes ``(freq_hz, q, gain)``, none for a flat object.

        ``resonance_hz`` holds one frequency or several; ``resonance_q`` one Q for all or one
        per mode; ``resonance_gain`` one unitless gain per mode (default 1 each).
        """
        if not self.resonance_hz:
            return []
        freqs = _as_tuple(self.resonance_hz)
        qs = _as_tuple(self.resonance_q)
        gains = (1.0,) * len(freqs) if self.resonance_gain is None else _as_tuple(
            self.resonance_gain)
        if len(qs) == 1:
            qs = qs * len(freqs)
        if len(qs) != len(freqs) or len(gains) != len(freqs):
            raise VmicError(f"{len(freqs)} resonance(s) (--resonance) need one Q (--q) or one "
                            f"per mode, and one gain (--resonance-gain) per mode; got "
                            f"{len(qs)} Q and {len(gains)} gain(s)")
        return [(float(f), float(q), float(g)) for f, q, g in zip(freqs, qs, gains,
                                                                  strict=True)]

    def to_dict(self) -> dict:
        """JSON-ready dict of all parameters."""
        out = dataclasses.asdict(self)
        for key in ("tones_hz", "chirp_hz", "mode", "resonance_hz", "resonance_q",
                    "resonance_gain"):
            if isinstance(out[key], tuple | list):
                out[key] = list(out[key])
        return out


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, tuple | list | np.ndarray) else (value,)


def validate(cfg: SynthConfig) -> None:
    """Raise :class:`VmicError` with one clear line for any invalid parameter."""
    if not cfg.fps > 0:
        raise VmicError(f"fps must be > 0, got {cfg.fps:g}")
    if cfg.height < 8 or cfg.width < 8:
        raise VmicError(f"frames must be at least 8x8 px, got {cfg.width}x{cfg.height}")
    if cfg.bits not in (None, 0, 8, 10, 12, 16):
        raise VmicError(f"bits must be 8, 10, 12, 16 or 0 (float frames), got {cfg.bits}")
    if cfg.amplitude_px < 0 or not math.isfinite(cfg.amplitude_px):
        raise VmicError(f"amplitude must be >= 0 px, got {cfg.amplitude_px:g}")
    if cfg.motion != "global" or cfg.line_delay_s:
        if cfg.amplitude_px > MAX_FIELD_AMPLITUDE_PX:
            raise VmicError(f"amplitude {cfg.amplitude_px:g} px is too large for a motion field "
                            f"(at most {MAX_FIELD_AMPLITUDE_PX:g} px)")
    if not 0 <= cfg.exposure <= 1:
        raise VmicError(f"exposure must be a fraction of the frame period in [0, 1], "
                        f"got {cfg.exposure:g}")
    if cfg.exposure_samples < 1:
        raise VmicError("exposure samples must be >= 1")
    if cfg.read_noise_e < 0 or cfg.full_well_e <= 0:
        raise VmicError("read noise must be >= 0 e- and the full well > 0 e-")
    if cfg.line_delay_s < 0:
        raise VmicError(f"line delay must be >= 0 s, got {cfg.line_delay_s:g}")
    _validate_modes(cfg)
    _validate_drift(cfg)
    low, high = cfg.mean_level - cfg.contrast, cfg.mean_level + cfg.contrast
    blow = cfg.mean_level - cfg.background_contrast
    bhigh = cfg.mean_level + cfg.background_contrast
    if min(low, blow) < 0 or max(high, bhigh) > 1:
        raise VmicError("mean level +- contrast must stay within [0, 1] of the full well")


def _validate_modes(cfg: SynthConfig) -> None:
    """The object's modes: frequencies under Nyquist, Q > 0, finite nonzero gains."""
    for freq_hz, q, gain in cfg.modes():
        if not (math.isfinite(freq_hz) and 0 < freq_hz < cfg.fps / 2):
            raise VmicError(f"resonance (--resonance) {freq_hz:g} Hz must be in (0, "
                            f"{cfg.fps / 2:g}) Hz (half the capture rate)")
        if not (math.isfinite(q) and q > 0):
            raise VmicError(f"resonance Q (--q) must be > 0, got {q:g}")
        if not (math.isfinite(gain) and gain != 0):
            raise VmicError(f"resonance gain (--resonance-gain) must be finite and nonzero, "
                            f"got {gain:g}")


def _finite_nonneg(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def _validate_drift(cfg: SynthConfig) -> None:
    """The drift parameters: kinds, signs, which options apply to which kind."""
    if cfg.drift_kind not in DRIFT_KINDS:
        raise VmicError(f"unknown drift kind {cfg.drift_kind!r} (--drift-kind); choose from "
                        f"{', '.join(DRIFT_KINDS)}")
    for name, flag, value in (("drift", "--drift", cfg.drift_px),
                              ("drift speed", "--drift-speed", cfg.drift_speed_px_s),
                              ("region drift", "--region-drift", cfg.region_drift_px)):
        if not _finite_nonneg(value):
            raise VmicError(f"{name} ({flag}) must be a finite number >= 0, got {value:g}")
    for name, flag, value in (("drift frequency", "--drift-hz", cfg.drift_hz),
                              ("region drift frequency", "--region-drift-hz",
                               cfg.region_drift_hz)):
        if not (math.isfinite(value) and value > 0):
            raise VmicError(f"{name} ({flag}) must be > 0 Hz, got {value:g}")
    if cfg.drift_kind == "sine" and cfg.drift_speed_px_s > 0:
        raise VmicError("a drift speed (--drift-speed) applies to --drift-kind pan or walk; "
                        "a sine drift takes its peak from --drift PX")
    if cfg.drift_kind != "sine" and cfg.drift_px > 0:
        raise VmicError(f"--drift PX is the peak of a sine drift; a {cfg.drift_kind} drift "
                        "takes its speed from --drift-speed PX_PER_S")
    if not math.isfinite(cfg.drift_direction_deg):
        raise VmicError("drift direction (--drift-direction) must be finite")
    nyquist = cfg.fps / 2
    if cfg.drift_kind == "walk" and not (
            0 < cfg.drift_cutoff_hz <= min(MAX_WALK_CUTOFF_HZ, 0.9 * nyquist)):
        raise VmicError(f"walk cutoff (--drift-cutoff) must be in (0, {MAX_WALK_CUTOFF_HZ:g}] "
                        f"Hz and below 0.9 x Nyquist, got {cfg.drift_cutoff_hz:g}")
    if cfg.region_drift_mode not in REGION_DRIFT_MODES:
        raise VmicError(f"unknown region drift mode {cfg.region_drift_mode!r} "
                        f"(--region-drift-mode); choose from {', '.join(REGION_DRIFT_MODES)}")
    if cfg.region_drift_px > 0 and cfg.motion != "two_regions":
        raise VmicError("region drift (--region-drift) needs --motion two_regions")
    if cfg.drift_margin_px is not None and not (
            isinstance(cfg.drift_margin_px, int | np.integer) and cfg.drift_margin_px >= 0):
        raise VmicError(f"drift margin (--drift-margin) must be an integer >= 0 px, got "
                        f"{cfg.drift_margin_px!r}")
