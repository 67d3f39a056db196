"""The picture of a vibration map (:func:`save_vibration_map`), drawn with matplotlib."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vmic.vibmap import VibrationMap

__all__ = ["save_vibration_map"]


def save_vibration_map(path, vmap: VibrationMap, title: str = "",
                       min_strength_db: float | None = None) -> None:
    """Draw a vibration map over its reference frame and save it (atomically).

    Two panels: (1) the grey reference frame with each tile coloured by its dominant
    frequency (colour bar in Hz), opaque where the tile is strong and transparent where it
    is at the noise level; (2) the strength in dB (colour bar), over the frame.

    Parameters
    ----------
    path : path-like
        Output picture; the format follows the suffix (PNG, PDF, SVG).
    vmap : VibrationMap
    title : str
    min_strength_db : float, optional
        Strength (dB) drawn fully transparent; default 3 dB over the median tile strength
        (most tiles hold no vibration). The strongest tile is drawn opaque.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from vmic.io.atomic import atomic_path

    h, w = vmap.reference.shape
    x0, y0 = vmap.origin
    p = vmap.pixel_size
    extent = (x0, x0 + w * p, y0 + h * p, y0)
    if min_strength_db is None:
        low = float(np.median(vmap.strength)) + 3.0
    else:
        low = float(min_strength_db)
    top = max(float(vmap.strength.max()), low + 1e-6)
    alpha = np.clip((vmap.strength - low) / max(top - low, 1e-9), 0.0, 1.0) ** 0.75

    # Expand tiles to pixels so uneven tiles land exactly where they were measured.
    rows = np.repeat(np.arange(vmap.tiles[0]), np.diff(vmap.tile_edges_y))
    cols = np.repeat(np.arange(vmap.tiles[1]), np.diff(vmap.tile_edges_x))

    freq_norm = Normalize(vmin=vmap.band_hz[0], vmax=vmap.band_hz[1])
    freq_cmap = plt.get_cmap("turbo")
    rgba = freq_cmap(freq_norm(vmap.frequency))
    rgba[..., 3] = alpha
    strength_norm = Normalize(vmin=low, vmax=top)
    strength_cmap = plt.get_cmap("inferno")
    srgba = strength_cmap(strength_norm(vmap.strength))
    srgba[..., 3] = 0.85

    wide = w >= h
    figsize = (9, 2 * 9 * h / w + 1.2) if wide else (2 * 6 * w / h + 2, 6)
    fig, axes = plt.subplots(2 if wide else 1, 1 if wide else 2, figsize=figsize, dpi=110,
                             constrained_layout=True)
    grey = vmap.reference
    vmin, vmax = np.percentile(grey, [1, 99]) if grey.size else (0, 1)
    panels = [
        (axes[0], rgba, ScalarMappable(freq_norm, freq_cmap), "dominant frequency (Hz)"),
        (axes[1], srgba, ScalarMappable(strength_norm, strength_cmap),
         "strength: peak over noise (dB)"),
    ]
    for ax, image, mappable, label in panels:
        ax.imshow(grey, cmap="gray", vmin=vmin, vmax=vmax, extent=extent,
                  interpolation="nearest")
        ax.imshow(image[rows][:, cols], extent=extent, interpolation="nearest")
        ax.set_xlabel("x (px)")
        ax.set_ylabel("y (px)")
        fig.colorbar(mappable, ax=ax, label=label, shrink=0.9)
    strongest = vmap.strongest(1)[0]
    axes[0].set_title(title or (
        f"vibration map: {vmap.n_frames} frames at {vmap.fps:g} fps, "
        f"bin {vmap.freq_resolution_hz:.2g} Hz; strongest tile {strongest[3]:.1f} Hz "
        f"({strongest[2]:.1f} dB)"), fontsize=9)
    with atomic_path(path) as tmp:
        suffix = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else "png"
        fig.savefig(tmp, format=suffix)
    plt.close(fig)
