"""Loaders and writers for the D4RL HDF5 layout and npz, on files written by h5py / numpy directly."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from data_testutils import assert_same_arrays, tiny_arrays
from seamrl.data import Dataset, load_dataset, save_d4rl_hdf5, save_minari, save_npz
from seamrl.data.formats import detect_format


def write_h5(path, arrays, attrs=None):
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
        f.attrs.update(attrs or {})
    return path


def raw_d4rl_without_next():
    """The D4RL-style raw arrays of test_create_derives_next_observations_like_qlearning_dataset."""
    s = np.arange(8, dtype=np.float64)
    return {
        "observations": np.stack([s, 2 * s], axis=1),
        "actions": np.full((8, 1), 0.5),
        "rewards": np.arange(8) * 10.0,
        "terminals": np.array([0, 0, 1, 0, 0, 0, 0, 0], dtype=bool),
        "timeouts": np.array([0, 0, 0, 0, 0, 1, 0, 0], dtype=bool),
        "infos/qpos": np.arange(16.0).reshape(8, 2),
        "metadata/algorithm": np.array(b"SAC"),
    }


def test_d4rl_hdf5_with_next_observations(tmp_path):
    arrays = tiny_arrays()
    arrays["infos/qpos"] = np.arange(8.0)
    arrays["infos/goal/xy"] = np.ones((8, 2))
    arrays["infos/label"] = np.array([b"a"] * 8)  # text infos are left out
    arrays["metadata/policy/fc0/weight"] = np.zeros((3, 3))  # ignored, like D4RL's metadata group
    path = write_h5(tmp_path / "hopper_medium-v2.hdf5", arrays)
    ds = load_dataset(path)
    expected = Dataset(**tiny_arrays(), infos={"qpos": np.arange(8.0), "goal/xy": np.ones((8, 2))})
    assert_same_arrays(ds, expected)
    assert ds.name == "hopper_medium-v2" and ds.source == str(path)
    np.testing.assert_array_equal(ds.episode_ends, [0, 0, 1, 0, 1, 0, 1, 1])


def test_d4rl_hdf5_without_next_observations(tmp_path):
    path = write_h5(tmp_path / "raw.h5", raw_d4rl_without_next())
    ds = load_dataset(path, name="walker2d-medium-v2")
    assert ds.name == "walker2d-medium-v2"
    # rows 5 (timeout) and 7 (last row, no successor) are dropped, as in D4RL's qlearning_dataset
    np.testing.assert_array_equal(ds.observations[:, 0], [0, 1, 2, 3, 4, 6])
    np.testing.assert_array_equal(ds.next_observations[:, 0], [1, 2, 3, 4, 5, 7])
    np.testing.assert_array_equal(ds.next_observations[:, 1], [2, 4, 6, 8, 10, 14])
    np.testing.assert_array_equal(ds.rewards, [0, 10, 20, 30, 40, 60])
    np.testing.assert_array_equal(ds.terminals, [0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(ds.timeouts, [0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(ds.infos["qpos"][:, 0], [0, 2, 4, 6, 8, 12])


def test_d4rl_timeouts_optional_when_next_observations_present(tmp_path):
    arrays = tiny_arrays()
    del arrays["timeouts"]
    ds = load_dataset(write_h5(tmp_path / "no_timeouts.hdf5", arrays))
    assert not ds.timeouts.any()
    # row 4 still ends an episode: next_obs[4] = 12 but obs[5] = 20
    np.testing.assert_array_equal(ds.episode_ends, [0, 0, 1, 0, 1, 0, 1, 1])


def test_npz_written_by_numpy(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, **raw_d4rl_without_next())
    from_npz = load_dataset(path)
    from_h5 = load_dataset(write_h5(tmp_path / "data.hdf5", raw_d4rl_without_next()))
    assert_same_arrays(from_npz, from_h5)
    assert from_npz.name == "data"


def test_writers_round_trip_and_keep_metadata(tmp_path, flagged):
    ds = Dataset(**{k: getattr(flagged, k) for k in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")},
                 infos=flagged.infos, name="flagged-v0", max_episode_steps=6)
    npz_path = save_npz(ds, tmp_path / "a.data")  # no suffix appended
    assert npz_path.name == "a.data"
    from_npz = load_dataset(npz_path, format="npz")
    h5_path = save_d4rl_hdf5(from_npz, tmp_path / "b.hdf5")
    from_h5 = load_dataset(h5_path)
    for loaded in (from_npz, from_h5):
        assert_same_arrays(ds, loaded)
        assert loaded.name == "flagged-v0" and loaded.max_episode_steps == 6
    with h5py.File(h5_path) as f:
        assert f.attrs["format"] == "d4rl" and f.attrs["transitions"] == len(ds)
        assert f.attrs["episodes"] == ds.num_episodes
        assert set(f) >= {"observations", "actions", "rewards", "next_observations", "terminals", "timeouts", "infos"}


def test_round_trip_npz_d4rl_minari_and_back(tmp_path, flagged, minari_root):
    from_npz = load_dataset(save_npz(flagged, tmp_path / "x.npz"))
    from_h5 = load_dataset(save_d4rl_hdf5(from_npz, tmp_path / "x.hdf5"))
    directory = save_minari(from_h5, "seamrl/flagged-v0")
    assert directory == minari_root / "seamrl" / "flagged-v0"
    from_minari = load_dataset("seamrl/flagged-v0")
    assert from_minari.name == "seamrl/flagged-v0"
    back_h5 = load_dataset(save_d4rl_hdf5(from_minari, tmp_path / "y.hdf5"))
    back_npz = load_dataset(save_npz(back_h5, tmp_path / "y.npz"))
    for loaded in (from_npz, from_h5, from_minari, back_h5, back_npz):
        assert_same_arrays(flagged, loaded)
    np.testing.assert_array_equal(back_npz.episode_ends, flagged.episode_ends)


def test_detect_format(tmp_path, minari_root, flagged):
    assert detect_format(save_npz(flagged, tmp_path / "a.npz")) == "npz"
    assert detect_format(save_d4rl_hdf5(flagged, tmp_path / "a.H5")) == "d4rl"
    save_minari(flagged, "ns/x-v1")
    assert detect_format("ns/x-v1") == "minari"
    assert detect_format(minari_root / "ns" / "x-v1") == "minari"
    assert detect_format(minari_root / "ns" / "x-v1" / "data") == "minari"
    main = minari_root / "ns" / "x-v1" / "data" / "main_data.hdf5"
    assert detect_format(main) == "minari"
    assert_same_arrays(load_dataset(main), flagged)


@pytest.mark.parametrize("fmt", ["hdf5", "h5", "d4rl", "D4RL"])
def test_format_aliases(tmp_path, flagged, fmt):
    path = save_d4rl_hdf5(flagged, tmp_path / "file.bin")
    assert len(load_dataset(path, format=fmt)) == len(flagged)
