"""Blind combination: split-sample SNR estimates and the tile classes they use."""

import numpy as np
import pytest

from vmic import combine
from vmic.recover import recover
from vmic.synth import SynthConfig, synthesize


def _edge_neighbours(grid, a, b):
    gy, gx = grid
    cells_a = {divmod(i, gx) for i in np.flatnonzero(a)}
    cells_b = {divmod(i, gx) for i in np.flatnonzero(b)}
    return any((y + dy, x + dx) in cells_b for y, x in cells_a
               for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)))


@pytest.mark.parametrize("grid", [(2, 2), (4, 4), (3, 5), (12, 12), (1, 8), (9, 1)])
def test_tile_quarters_are_disjoint_and_paired_classes_share_no_edge(grid):
    classes, pairs = combine.tile_quarters(grid)
    stacked = np.array(classes)
    assert stacked.shape == (4, grid[0] * grid[1])
    np.testing.assert_array_equal(stacked.sum(axis=0), 1)  # every tile in exactly one class
    assert all(c.any() for c in classes)
    for a, b in pairs:
        assert not _edge_neighbours(grid, classes[a], classes[b])


def test_tile_quarters_refuse_grids_too_small():
    assert combine.tile_quarters((1, 3)) == (None, None)
    assert combine.tile_quarters((1, 1)) == (None, None)


def test_split_sample_snr_estimates_the_combined_snr():
    rng = np.random.default_rng(0)
    n = 20000
    signal = rng.normal(size=n)
    part_snr = 0.5  # linear, per part: the four parts together have 2.0 (3.0 dB)
    parts = [signal * np.sqrt(part_snr) + rng.normal(size=n) for _ in range(4)]
    estimate = combine.split_sample_snr(parts, [(0, 3), (1, 2)])
    assert abs(estimate - 10 * np.log10(4 * part_snr)) < 0.3
    # Parts that contradict each other (opposite signs) do not count as agreeing.
    flipped = [parts[0], parts[1], parts[2], -parts[3]]
    assert combine.split_sample_snr(flipped, [(0, 3)]) == -np.inf


def test_no_motion_is_not_taken_for_a_signal():
    # A scene that does not move, with camera noise: neighbouring tiles share the noise of
    # the pyramid filters that span them; the blind estimates must not read that as motion.
    cfg = SynthConfig(duration_s=0.5, height=64, width=64, source="pink", motion="global",
                      amplitude_px=1e-6, seed=1, bits=8, full_well_e=10000.0,
                      read_noise_e=5.0, shot_noise=True)
    clip = synthesize(cfg)
    result = recover(clip.frames, fps=cfg.fps)
    estimates = result.info["split_snr_db"]
    assert max(estimates.values()) < -5.0
    assert estimates["rigid"] < -8.0


def test_sum_by_block_matches_adding_row_by_row():
    rng = np.random.default_rng(11)
    values = rng.standard_normal((13, 2, 7)).astype(np.float32)
    block = rng.integers(0, 5, 13)
    block[block == 3] = 4  # group 3 stays empty
    expected = np.zeros((6, 2, 7), np.float32)
    np.add.at(expected, block, values)
    got = combine.sum_by_block(values, block, 6)
    assert got.shape == (6, 2, 7) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert not got[3].any() and not got[5].any()
