import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mae_core.errors import ConfigError
from mae_core.masking import cell_index, full_mask, make_mask, mask_from_array, pixel_mask


def check_consistent(mk):
    L = mk.grid[0] * mk.grid[1]
    flat = mk.mask.reshape(-1).numpy()
    keep = mk.ids_keep.numpy()
    assert (np.diff(keep) > 0).all()  # raster-ascending, no duplicates
    assert set(np.flatnonzero(flat == 0)) == set(keep)
    # ids_restore inverts the shuffle cat(ids_keep, ids_removed)
    shuffle = np.concatenate([keep, np.flatnonzero(flat == 1)])
    np.testing.assert_array_equal(shuffle[mk.ids_restore.numpy()], np.arange(L))
    # MAE's way of rebuilding the mask from ids_restore gives the same grid
    m = torch.ones(L)
    m[: mk.n_keep] = 0
    np.testing.assert_array_equal(torch.gather(m, 0, mk.ids_restore).numpy(), flat)


@settings(max_examples=60, deadline=None)
@given(gh=st.integers(1, 20), gw=st.integers(1, 20), m=st.integers(1, 5), r=st.floats(0.0, 0.95),
       seed=st.integers(0, 2**31 - 1), keep=st.sampled_from(["blocks", "exact"]))
def test_mask_properties(gh, gw, m, r, seed, keep):
    try:
        mk = make_mask((gh, gw), m, r, seed, keep)
    except ConfigError:
        return  # impossible combinations must be refused, which is what ConfigError is
    check_consistent(mk)
    assert mk.n_keep >= 1
    # determinism: same arguments, same mask
    assert torch.equal(mk.mask, make_mask((gh, gw), m, r, seed, keep).mask)
    cells = cell_index((gh, gw), m)
    vis = mk.mask.numpy() == 0
    n_cells = cells.max() + 1
    partial = [c for c in range(n_cells) if 0 < vis[cells == c].sum() < (cells == c).sum()]
    if keep == "blocks" or m == 1:
        assert partial == []  # whole cells kept or removed together
        expected = int(n_cells * (1 - r)) if m > 1 else int(gh * gw * (1 - r))
        assert len({c for c in cells[vis]}) == expected
    else:
        assert mk.n_keep == int(gh * gw * (1 - r))  # paper-exact keep count
        assert len(partial) <= 1  # at most the last cell is cut


def test_paper_configuration_448_16_m2():
    mk = make_mask((28, 28), 2, 0.75, seed=0)
    assert mk.n_keep == 196 and mk.effective_ratio == 0.75
    # every 2x2 cell entirely kept or entirely removed
    cells = mk.mask.numpy().reshape(14, 2, 14, 2).sum((1, 3))
    assert set(np.unique(cells)) <= {0.0, 4.0}


def test_seeds_differ_and_ratio_reported_for_uneven_grid():
    a, b = make_mask((14, 14), 1, 0.75, 0), make_mask((14, 14), 1, 0.75, 1)
    assert not torch.equal(a.mask, b.mask)
    mk = make_mask((7, 7), 2, 0.75, 0)  # 16 cells, 4 of them cut by the edge
    assert mk.effective_ratio != 0.75
    assert 0 < mk.effective_ratio < 1


def test_impossible_configurations():
    with pytest.raises(ConfigError, match="ratio"):
        make_mask((14, 14), 1, 1.0, 0)
    with pytest.raises(ConfigError, match="keeps no"):
        make_mask((4, 4), 4, 0.75, 0)
    with pytest.raises(ConfigError, match="larger than"):
        make_mask((4, 4), 8, 0.5, 0)
    with pytest.raises(ConfigError):
        make_mask((4, 4), 0, 0.5, 0)


def test_user_mask():
    g = np.ones((4, 6), dtype=int)
    g[1, 2] = 0
    g[3, 5] = 0
    mk = mask_from_array(g)
    check_consistent(mk)
    assert mk.ids_keep.tolist() == [1 * 6 + 2, 3 * 6 + 5]
    assert mk.requested_ratio is None
    with pytest.raises(ConfigError, match="every patch"):
        mask_from_array(np.ones((4, 6)))
    with pytest.raises(ConfigError, match="only 0"):
        mask_from_array(np.full((4, 6), 2))
    with pytest.raises(ConfigError, match="does not match"):
        mask_from_array(g, grid=(6, 4))


def test_full_and_pixel_mask():
    fm = full_mask((3, 4))
    assert fm.n_keep == 12 and fm.effective_ratio == 0
    mk = make_mask((2, 2), 1, 0.5, 3)
    pm = pixel_mask(mk, 4)
    assert pm.shape == (8, 8)
    np.testing.assert_array_equal(pm[::4, ::4], mk.mask.numpy())
