"""Every bad input is a one-sentence DataError naming the file and key, never a numpy stack trace."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from data_testutils import assert_one_sentence, tiny_arrays
from seamrl.data import Dataset, load_dataset, save_minari
from seamrl.errors import DataError


def write_h5(path, arrays):
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    return path


def load_error(path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_dataset(path, **kwargs)
    assert info.value.__cause__ is None  # no chained library trace
    assert info.value.__context__ is None or info.value.__suppress_context__
    return str(info.value)


def build_error(**overrides) -> str:
    arrays = tiny_arrays()
    arrays.update(overrides)
    with pytest.raises(DataError) as info:
        Dataset(**arrays, source="bad.hdf5")
    return str(info.value)


def test_missing_key(tmp_path):
    arrays = tiny_arrays()
    del arrays["actions"]
    path = write_h5(tmp_path / "hopper.hdf5", arrays)
    assert_one_sentence(load_error(path), str(path), "'actions'", "missing")


def test_missing_timeouts_and_next_observations(tmp_path):
    arrays = tiny_arrays()
    del arrays["timeouts"], arrays["next_observations"]
    path = tmp_path / "x.npz"
    np.savez(path, **arrays)
    assert_one_sentence(load_error(path), str(path), "'timeouts'", "'next_observations'")


def test_length_mismatch(tmp_path):
    arrays = {key: np.repeat(value, 125, axis=0) for key, value in tiny_arrays().items()}  # 1000 rows
    arrays["rewards"] = arrays["rewards"][:999]
    path = write_h5(tmp_path / "hopper.hdf5", arrays)
    message = load_error(path)
    assert_one_sentence(message, str(path), "'rewards'", "999", "'observations'", "1000")


def test_length_mismatch_of_infos(tmp_path):
    arrays = tiny_arrays()
    arrays["infos/qpos"] = np.zeros((7, 3))
    path = write_h5(tmp_path / "h.hdf5", arrays)
    assert_one_sentence(load_error(path), str(path), "'infos/qpos'", "7", "8")


@pytest.mark.parametrize("key", ["observations", "next_observations", "actions", "rewards"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(tmp_path, key, bad):
    arrays = tiny_arrays()
    arrays[key] = arrays[key].astype(np.float64)
    arrays[key][3] = bad
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    assert_one_sentence(load_error(path), str(path), f"'{key}'", "row 3", str(bad))


def test_value_overflowing_float32():
    rewards = np.ones(8)
    rewards[5] = 1e300
    assert_one_sentence(build_error(rewards=rewards), "bad.hdf5", "'rewards'", "row 5", "overflows float32")


def test_empty_dataset(tmp_path):
    arrays = {key: value[:0] for key, value in tiny_arrays().items()}
    path = write_h5(tmp_path / "empty.hdf5", arrays)
    assert_one_sentence(load_error(path), str(path), "empty", "'observations'")


def test_terminal_and_timeout_both_set(tmp_path):
    arrays = tiny_arrays()
    arrays["timeouts"][2] = True  # row 2 is already terminal
    path = write_h5(tmp_path / "both.hdf5", arrays)
    assert_one_sentence(load_error(path), str(path), "'terminals'", "'timeouts'", "row 2")
    del arrays["next_observations"]  # also checked before next-row derivation
    path = write_h5(tmp_path / "both_raw.hdf5", arrays)
    assert_one_sentence(load_error(path), str(path), "'terminals'", "'timeouts'", "row 2")


def test_flags_must_be_zero_or_one():
    terminals = np.zeros(8)
    terminals[4] = 2
    assert_one_sentence(build_error(terminals=terminals), "bad.hdf5", "'terminals'", "row 4", "0/1")


def test_bad_shapes():
    assert_one_sentence(build_error(rewards=np.ones((8, 2))), "bad.hdf5", "'rewards'", "(8, 2)")
    assert_one_sentence(build_error(actions=np.ones((8, 2, 2))), "bad.hdf5", "'actions'", "(8, 2, 2)")
    assert_one_sentence(
        build_error(next_observations=np.ones((8, 3))), "bad.hdf5", "'next_observations'", "(8, 3)", "(8, 2)"
    )


def test_non_numeric_and_ragged_arrays():
    assert_one_sentence(build_error(rewards=np.array(["a"] * 8)), "bad.hdf5", "'rewards'", "numeric")
    assert_one_sentence(build_error(actions=[[0.0], [0.0, 1.0]] * 4), "bad.hdf5", "'actions'")


def test_object_array_in_npz(tmp_path):
    arrays = tiny_arrays()
    arrays["rewards"] = np.array([object()] * 8)
    path = tmp_path / "pickled.npz"
    np.savez(path, **arrays)
    assert_one_sentence(load_error(path), str(path), "'rewards'", "Python objects")


def test_group_instead_of_array(tmp_path):
    arrays = tiny_arrays()
    del arrays["observations"]
    arrays["observations/a"] = np.zeros((8, 2))
    path = write_h5(tmp_path / "grouped.hdf5", arrays)
    assert_one_sentence(load_error(path), str(path), "'observations'", "group")


def test_action_outside_action_space(tiny):
    with pytest.raises(DataError) as info:
        tiny.validate_for((2,), -0.5, 0.5)
    # actions are linspace(-1, 1, 16) in rows of two: the first one out of [-0.5, 0.5] is row 0, value -1
    assert_one_sentence(str(info.value), "tiny.hdf5", "'actions'", "row 0", "-1", "[-0.5, 0.5]")
    tiny.validate_for((2,), -1.0, 1.0)  # in bounds
    tiny.validate_for((2,), np.full(2, -1 + 1e-7), np.full(2, 1 - 1e-7))  # within the 1e-6 tolerance
    with pytest.raises(DataError):
        tiny.validate_for((2,), -1 + 1e-5, 1.0)


def test_observation_shape_not_matching_environment(tiny):
    with pytest.raises(DataError) as info:
        tiny.validate_for((17,), -1.0, 1.0)
    assert_one_sentence(str(info.value), "tiny.hdf5", "'observations'", "(2,)", "(17,)")
    with pytest.raises(DataError) as info:
        tiny.validate_for((2,), -np.ones(6), np.ones(6))
    assert_one_sentence(str(info.value), "tiny.hdf5", "'actions'", "(6,)")


def test_nonexistent_path(tmp_path, minari_root):
    path = tmp_path / "nope.hdf5"
    assert_one_sentence(load_error(path), str(path), "no such file")
    assert_one_sentence(load_error("someone/unknown-v0"), "someone/unknown-v0", str(minari_root))
    assert_one_sentence(load_error(path, format="npz"), str(path), "no such file")
    assert_one_sentence(load_error("someone/unknown-v0", format="minari"), "someone/unknown-v0")


def test_unknown_format(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("1,2,3\n")
    assert_one_sentence(load_error(path), str(path), "unknown dataset format", ".csv")
    other = tmp_path / "data.npz"
    other.write_bytes(b"")
    assert_one_sentence(load_error(other, format="parquet"), str(other), "'parquet'", "d4rl, npz, minari")


def test_unreadable_files(tmp_path):
    garbage = tmp_path / "garbage.hdf5"
    garbage.write_bytes(b"this is not hdf5" * 10)
    assert_one_sentence(load_error(garbage), str(garbage), "HDF5")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 broken zip")
    assert_one_sentence(load_error(broken), str(broken), ".npz")
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, np.zeros(3))
    assert_one_sentence(load_error(single), str(single), "single array")


def test_directory_that_is_not_minari(tmp_path):
    assert_one_sentence(load_error(tmp_path), str(tmp_path), "data/metadata.json")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "metadata.json").write_text("{not json")
    assert_one_sentence(load_error(tmp_path), str(tmp_path), "Minari")


def test_save_minari_refusals(flagged, minari_root):
    with pytest.raises(DataError) as info:
        save_minari(flagged, "no version")
    assert_one_sentence(str(info.value), "'no version'", "malformed")
    save_minari(flagged, "test/once-v0")
    with pytest.raises(DataError) as info:
        save_minari(flagged, "test/once-v0")
    assert_one_sentence(str(info.value), "'test/once-v0'", "already exists")
    with pytest.raises(DataError) as info:
        save_minari(flagged, "test/hopper-v0", "Hopper-v5")  # 3-dim observations, Hopper has 11
    assert_one_sentence(str(info.value), "flagged-v0", "'observations'", "(3,)", "(11,)")


def test_no_row_with_a_successor(tmp_path):
    arrays = {key: value[:1] for key, value in tiny_arrays().items() if key != "next_observations"}
    path = write_h5(tmp_path / "one_row.hdf5", arrays)
    assert_one_sentence(load_error(path), str(path), "successor", "'next_observations'")
