"""Vibration map: where in the frame the motion signal is strong, and at which frequency.

The reference frame is cut into square tiles of ``tile_px`` pixels (at scale 0). For every
tile and pyramid band, the A**2-weighted mean local phase change against the reference
(:func:`vmic.core.phase.local_phase`) is a motion signal in radians. Each signal is high-passed
(zero phase), Hann-windowed and Fourier-transformed over the whole clip, and the power
spectra of a tile's bands are summed with weights equal to the band's mean energy (A**2)
in that tile. Phase noise has a variance inversely proportional to A**2, so this weighting
gives every band the same noise floor, while real motion adds power in proportion to the
texture that carries it.

Per tile we report

- ``frequency``: the frequency of the spectrum's highest peak between ``min_freq_hz`` and
  ``max_freq_hz`` (Hz, refined by parabolic interpolation of the log power, within half a
  bin of the peak bin);
- ``strength``: the power in that peak (its bin +-2, the Hann main lobe) over the noise
  power the same 5 bins would hold at the spectrum's median level, in dB. A tile with only
  noise scores about 5-9 dB (the maximum of a few hundred noise bins); featureless tiles do
  not light up because their phase noise counts as noise, not as signal;
- ``rms``: the RMS of the tile's energy-weighted band signals after the high-pass (rad).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from vmic import post
from vmic.core.phase import frame_phase_sums, reference_bands, tile_grid
from vmic.core.pyramid import SteerablePyramid, max_scales
from vmic.errors import VmicError
from vmic.extraction import check_reference
from vmic.io.clip import Clip
from vmic.io.stream import opened_clip, progress_bar
from vmic.vibmap_spectra import BASELINE_BINS, PEAK_HALF_WIDTH, peak_strength, tile_spectra

__all__ = ["VibrationMap", "MapPlan", "vibration_map", "tile_spectra", "peak_strength",
           "save_vibration_map", "PEAK_HALF_WIDTH", "BASELINE_BINS"]

#: Fewest frames that give a spectrum worth mapping.
MIN_FRAMES = 8


@dataclass
class VibrationMap:
    """Result of :func:`vibration_map`.

    Attributes
    ----------
    reference : ndarray of float32, shape (H, W)
        Reference frame (grey, the clip's intensity units), after ROI and downsampling.
    strength : ndarray of float64, shape (TY, TX)
        Peak power over the median noise level, dB (see module doc).
    frequency : ndarray of float64, shape (TY, TX)
        Dominant frequency of each tile (Hz).
    rms : ndarray of float64, shape (TY, TX)
        RMS of the energy-weighted, high-passed local phase signals (rad).
    tile_edges_y, tile_edges_x : ndarray of int64, shapes (TY + 1,), (TX + 1,)
        Tile boundaries in ``reference`` pixels.
    fps : float
        Capture rate (Hz).
    n_frames : int
        Frames analysed.
    freq_resolution_hz : float
        FFT bin width, ``fps / n_frames`` (Hz).
    band_hz : (float, float)
        Frequency range searched for peaks (Hz).
    origin : (int, int)
        (x, y) of the ROI's corner in the source frame (px).
    pixel_size : int
        Source pixels per reference pixel (the downsampling factor).
    """

    reference: np.ndarray
    strength: np.ndarray
    frequency: np.ndarray
    rms: np.ndarray
    tile_edges_y: np.ndarray
    tile_edges_x: np.ndarray
    fps: float
    n_frames: int
    freq_resolution_hz: float
    band_hz: tuple[float, float]
    origin: tuple[int, int] = (0, 0)
    pixel_size: int = 1

    @property
    def tiles(self) -> tuple[int, int]:
        """Tile grid (TY, TX)."""
        return self.strength.shape

    def strongest(self, count: int = 5) -> list[tuple[int, int, float, float]]:
        """The ``count`` strongest tiles as (row, col, strength dB, frequency Hz)."""
        order = np.argsort(self.strength, axis=None)[::-1][:count]
        rows, cols = np.unravel_index(order, self.strength.shape)
        return [(int(r), int(c), float(self.strength[r, c]), float(self.frequency[r, c]))
                for r, c in zip(rows, cols, strict=True)]


def _edges(size: int, tiles: int) -> np.ndarray:
    # First pixel of each tile under vmic.core.phase.tile_grid's mapping, plus the end.
    index = np.arange(size, dtype=np.int64) * tiles // size
    starts = np.searchsorted(index, np.arange(tiles))
    return np.append(starts, size).astype(np.int64)


def vibration_map(clip, *, fps: float | None = None, scales: int = 1, orientations: int = 2,
                  tile_px: int = 8, roi=None, downsample: int = 1, start: int = 0,
                  n_frames: int | None = None, reference_frame: int = 0,
                  highpass_hz: float | None = None, max_freq_hz: float | None = None,
                  motion: str = "auto", batch_size: int = 32,
                  quiet: bool = True, segment: int | None = None,
                  client=None) -> VibrationMap:
    """Map vibration strength and dominant frequency over the frame.

    Parameters
    ----------
    clip : str, Path, Clip or ndarray
        Clip path (video, image folder, ``.npy``), an opened Clip, or frames (T, H, W)
        (then ``fps`` is required).
    fps : float, optional
        Capture rate (Hz); default from the sidecar, else the container (with a warning).
    scales, orientations : int, default 1 and 2
        Pyramid bands analysed; all are combined per tile.
    tile_px : int, default 8
        Tile side (px of the analysed frame, i.e. after ROI and downsampling).
    roi, downsample, start, n_frames
        Frame selection, see :func:`vmic.io.clip.open_clip`.
    reference_frame : int, default 0
        Reference frame, counted from ``start``.
    highpass_hz : float, optional
        High-pass cutoff and lowest frequency searched (Hz); default 0.05 of Nyquist.
    motion : {"auto", "off"}, default "auto"
        As :func:`vmic.recover`: a moving camera's large motion is measured first and, where
        it reaches 0.2 px (or where parts of the scene move apart by 1 px: removed tile by
        tile, :mod:`vmic.core.regional`), removed before the map is made (the map then
        covers the frame less the border the motion sweeps).
    max_freq_hz : float, optional
        Highest frequency searched (Hz); default the Nyquist rate.
    batch_size : int, default 32
        Frames per batch.
    quiet : bool, default True
        No progress bar.
    segment : int, optional
        The segment of a variable-rate video (:func:`vmic.io.clip.open_clip`).
    client : distributed.Client, optional
        Analyse the clip's frame ranges as tasks on this Dask cluster
        (:func:`vmic.distributed_map.map_on_cluster`; ``clip`` is then a path the workers
        can read).

    Returns
    -------
    VibrationMap

    Raises
    ------
    VmicError
        Bad selection, too few frames, tiles larger than the frame, a featureless
        reference, an empty frequency range.
    """
    if tile_px < 2:
        raise VmicError(f"tile size must be at least 2 px, got {tile_px}")
    if motion not in ("auto", "off"):
        raise VmicError(f"unknown motion mode {motion!r}; choose from auto, off")
    if client is not None:
        from vmic.distributed_map import map_on_cluster

        return map_on_cluster(clip, client, fps=fps, scales=scales, orientations=orientations,
                              tile_px=tile_px, roi=roi, downsample=downsample, start=start,
                              n_frames=n_frames, reference_frame=reference_frame,
                              highpass_hz=highpass_hz, max_freq_hz=max_freq_hz,
                              motion=motion, batch_size=batch_size, quiet=quiet,
                              segment=segment)
    with opened_clip(clip, fps=fps, roi=roi, downsample=downsample, start=start,
                     n_frames=n_frames, segment=segment) as source:
        view = source
        if motion == "auto":
            from vmic.core.compensation import compensated_clip
            from vmic.tracking import track_motion

            track = track_motion(source, reference_frame=reference_frame, quiet=quiet)
            if track.compensated():
                view = compensated_clip(source, track)
        return _map_clip(view, scales, orientations, tile_px, reference_frame, highpass_hz,
                         max_freq_hz, batch_size, quiet)


def _map_clip(clip: Clip, scales, orientations, tile_px, reference_frame, highpass_hz,
              max_freq_hz, batch_size, quiet) -> VibrationMap:
    plan = MapPlan(clip, scales=scales, orientations=orientations, tile_px=tile_px,
                   reference_frame=reference_frame, highpass_hz=highpass_hz,
                   max_freq_hz=max_freq_hz)
    phase = np.zeros((plan.n_bands,) + plan.tiles + (clip.n_frames,), dtype=np.float32)
    bar = progress_bar(clip.n_frames, "map", quiet)
    done = 0
    try:
        for first, frames in clip.iter_batches(batch_size):
            count = frames.shape[0]
            phase[..., first:first + count] = plan.phase(frames)
            done = first + count
            bar.update(count)
    finally:
        bar.close()
    return plan.finish(phase[..., :done])


class MapPlan:
    """Validated settings and reference of a vibration map of an opened clip.

    Picklable (the pyramid and the reference's bands are rebuilt where they are used), so
    that the frames can be analysed elsewhere, range by range (:meth:`phase`), and the map
    made of the joined signals (:meth:`finish`).

    Attributes
    ----------
    fps : float
        Capture rate (Hz).
    frame_shape : (int, int)
        Height and width of the analysed frames (px).
    tiles : (int, int)
        Tile grid (TY, TX).
    n_bands : int
        Bands analysed, scales x orientations.
    band_hz : (float, float)
        Frequency range searched (Hz).
    reference : ndarray of float32, shape (H, W)
        The reference frame.
    energy : ndarray of float64, shape (n_bands, TY, TX)
        Mean A**2 of each band in each tile.
    origin : (int, int)
        (x, y) of the analysed frame's corner in the source frame (px).
    pixel_size : int
        Source pixels per analysed pixel.
    """

    def __init__(self, clip, *, scales: int = 1, orientations: int = 2, tile_px: int = 8,
                 reference_frame: int = 0, highpass_hz: float | None = None,
                 max_freq_hz: float | None = None):
        fps = self.fps = clip.capture_fps
        nyquist = fps / 2.0
        if clip.n_frames < MIN_FRAMES:
            raise VmicError(f"need at least {MIN_FRAMES} frames for a vibration spectrum, "
                            f"the clip has {clip.n_frames}")
        h, w = self.frame_shape = tuple(clip.frame_shape)
        if tile_px > min(h, w):
            raise VmicError(f"tile size {tile_px} px is larger than the {w}x{h} px frame")
        if scales < 1 or orientations < 1:
            raise VmicError("scales and orientations must be at least 1")
        if scales > max_scales((h, w)):
            raise VmicError(f"a {w}x{h} px frame allows at most {max_scales((h, w))} scales, "
                            f"asked for {scales}")
        low = post.default_highpass_hz(fps) if highpass_hz is None else highpass_hz
        post.check_cutoff(low, sr=fps, name="high-pass cutoff")
        high = nyquist if max_freq_hz is None else max_freq_hz
        if not low < high <= nyquist:
            raise VmicError(f"--max-freq must be above the high-pass cutoff {low:g} Hz and at "
                            f"most the Nyquist rate {nyquist:g} Hz, got {high:g} Hz")
        self.band_hz = (low, high)
        self.scales, self.orientations = scales, orientations
        self.n_bands = scales * orientations
        self.reference = clip.read_frame(reference_frame)
        check_reference(self.bands)
        self.tiles = (max(1, h // tile_px), max(1, w // tile_px))
        self.energy = self._energy()
        x, y, _, _ = clip.roi
        # A compensated clip's frames lose the border its motion sweeps (px of the frame).
        margin = getattr(getattr(clip, "compensator", None), "margin", 0) * clip.downsample
        self.origin = (x + margin, y + margin)
        self.pixel_size = clip.downsample

    def __getstate__(self):
        return {k: v for k, v in vars(self).items() if k not in ("pyramid", "bands")}

    @cached_property
    def pyramid(self) -> SteerablePyramid:
        return SteerablePyramid(self.frame_shape, self.scales, self.orientations)

    @cached_property
    def bands(self) -> list[np.ndarray]:
        """The reference's bands, (K, h, w) complex per scale."""
        return reference_bands(self.pyramid, self.reference)

    def _energy(self) -> np.ndarray:
        energy = np.zeros((self.n_bands,) + self.tiles)
        counts = np.zeros(self.tiles)
        k = self.orientations
        for s, bands in enumerate(self.bands):
            rows, cols = tile_grid(self.pyramid.band_shapes[s], self.tiles)
            counts[:] = 0
            np.add.at(counts, (rows[:, None], cols[None, :]), 1)
            for o in range(k):
                np.add.at(energy[s * k + o], (rows[:, None], cols[None, :]),
                          np.abs(bands[o]) ** 2)
            energy[s * k:(s + 1) * k] /= np.maximum(counts, 1)
        return energy

    def phase(self, frames: np.ndarray) -> np.ndarray:
        """Each tile's local phase change of frames (B, H, W): float32 (n_bands, TY, TX, B),
        in rad."""
        sums = frame_phase_sums(self.pyramid, self.bands, frames, self.tiles)
        with np.errstate(invalid="ignore", divide="ignore"):
            local = np.nan_to_num(sums.weighted_phase / sums.energy)  # (B, S, K, TY, TX)
        count = local.shape[0]
        return np.moveaxis(local.reshape((count, self.n_bands) + self.tiles), 0, -1)

    def finish(self, phase: np.ndarray) -> VibrationMap:
        """The map of the joined phase signals (n_bands, TY, TX, T) of :meth:`phase`."""
        done = phase.shape[-1]
        if done < MIN_FRAMES:
            raise VmicError(f"only {done} frames could be decoded; need at least {MIN_FRAMES}")
        freqs, power, rms = tile_spectra(phase, self.energy, self.fps, self.band_hz[0])
        frequency, strength = peak_strength(freqs, power, self.band_hz)
        h, w = self.frame_shape
        return VibrationMap(
            reference=self.reference, strength=strength, frequency=frequency, rms=rms,
            tile_edges_y=_edges(h, self.tiles[0]), tile_edges_x=_edges(w, self.tiles[1]),
            fps=self.fps, n_frames=done, freq_resolution_hz=self.fps / done,
            band_hz=self.band_hz, origin=self.origin, pixel_size=self.pixel_size)


# The picture of a map, in its own module (matplotlib); here too, as part of this API.
from vmic.vibmap_figure import save_vibration_map  # noqa: E402
