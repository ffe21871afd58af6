"""Dataset: casting, episode segmentation, returns, return-to-go and subsets, checked by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from data_testutils import tiny_arrays
from seamrl.data import Dataset
from seamrl.errors import ConfigError, DataError


def test_casts_dtypes_and_shapes(tiny):
    assert tiny.observations.dtype == np.float32 and tiny.next_observations.dtype == np.float32
    assert tiny.actions.dtype == np.float32 and tiny.rewards.dtype == np.float32
    assert tiny.terminals.dtype == bool and tiny.timeouts.dtype == bool
    assert len(tiny) == 8 and tiny.obs_shape == (2,) and tiny.obs_dim == 2 and tiny.action_dim == 2


def test_accepts_column_vectors():
    arrays = tiny_arrays()
    for key in ("rewards", "terminals", "timeouts"):
        arrays[key] = arrays[key].reshape(-1, 1)
    ds = Dataset(**arrays)
    assert ds.rewards.shape == ds.terminals.shape == ds.timeouts.shape == (8,)


def test_episode_segmentation_by_hand(tiny):
    # terminal at 2, timeout at 4, discontinuity at 6, last row at 7
    np.testing.assert_array_equal(tiny.episode_ends, [0, 0, 1, 0, 1, 0, 1, 1])
    np.testing.assert_array_equal(tiny.episode_starts, [1, 0, 0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(tiny.episode_ids, [0, 0, 0, 1, 1, 2, 2, 3])
    assert tiny.num_episodes == 4
    np.testing.assert_array_equal(tiny.episode_lengths(), [3, 2, 2, 1])


def test_continuity_tolerance_is_1e_minus_6():
    arrays = tiny_arrays()
    arrays["next_observations"][6] = arrays["observations"][7] + [1e-7, 0.0]  # same episode
    arrays["next_observations"][0] = arrays["observations"][1] + [0.0, 1e-3]  # new episode
    ds = Dataset(**arrays)
    np.testing.assert_array_equal(ds.episode_ends, [1, 0, 1, 0, 1, 0, 0, 1])


def test_max_episode_steps_cuts_running_length():
    ds = Dataset(**tiny_arrays(), max_episode_steps=2)
    # episode 0..2 is cut after 2 rows; the others are short enough
    np.testing.assert_array_equal(ds.episode_ends, [0, 1, 1, 0, 1, 0, 1, 1])
    np.testing.assert_array_equal(ds.episode_lengths(), [2, 1, 2, 2, 1])


def test_episode_returns_and_reward_range(tiny):
    np.testing.assert_allclose(tiny.episode_returns(), [1 + 2 + 3, 0.5 - 1, 4 + 4, 10])
    assert tiny.reward_range() == (-0.5, 10.0)


def test_returns_to_go_by_hand(tiny):
    # gamma = 0.5, computed backwards inside each episode, nothing crosses an episode end
    expected = [
        1 + 0.5 * (2 + 0.5 * 3),  # 2.75
        2 + 0.5 * 3,  # 3.5
        3,
        0.5 + 0.5 * -1,  # 0.0
        -1,  # timeout: truncated, not bootstrapped
        4 + 0.5 * 4,  # 6.0
        4,
        10,
    ]
    rtg = tiny.returns_to_go(0.5)
    assert rtg.dtype == np.float32
    np.testing.assert_allclose(rtg, expected)
    np.testing.assert_allclose(tiny.returns_to_go(1.0), [6, 5, 3, -0.5, -1, 8, 4, 10])
    np.testing.assert_allclose(tiny.returns_to_go(0.0), tiny.rewards)


def test_returns_to_go_matches_a_plain_loop_on_random_episodes():
    rng = np.random.default_rng(1)
    n = 500
    obs = rng.normal(size=(n, 2))
    ends = rng.random(n) < 0.05
    ds = Dataset(obs, rng.uniform(-1, 1, (n, 1)), rng.normal(size=n), obs + 1, np.zeros(n), ends)
    expected, running = np.zeros(n), 0.0
    for t in range(n - 1, -1, -1):
        running = ds.rewards[t] + (0.0 if ds.episode_ends[t] else 0.9 * running)
        expected[t] = running
    np.testing.assert_allclose(ds.returns_to_go(0.9), expected, rtol=1e-5, atol=1e-5)


def test_select_by_mask_index_and_slice(tiny):
    by_index = tiny.select(np.array([5, 6, 7]))
    by_mask = tiny.select(np.arange(8) >= 5)
    by_slice = tiny.select(slice(5, None))
    for ds in (by_index, by_mask, by_slice):
        np.testing.assert_array_equal(ds.observations[:, 0], [20, 21, 30])
        assert ds.name == "tiny-v0" and ds.source == "tiny.hdf5"


def test_top_episodes_by_k_and_fraction(tiny):
    best_two = tiny.top_episodes(k=2)  # returns 10 (row 7) and 8 (rows 5-6)
    np.testing.assert_array_equal(best_two.observations[:, 0], [20, 21, 30])
    np.testing.assert_array_equal(best_two.timeouts, [0, 1, 1])  # episode ends made explicit
    np.testing.assert_allclose(best_two.episode_returns(), [8, 10])
    assert len(tiny.top_episodes(fraction=0.5)) == 3  # ceil(0.5 * 4) = 2 episodes
    best = tiny.top_episodes(fraction=0.1)  # ceil(0.4) = 1 episode
    np.testing.assert_array_equal(best.observations[:, 0], [30])
    assert len(tiny.top_episodes(k=100)) == 8
    kept = tiny.top_episodes(k=3)  # drops the -0.5 episode, keeps the terminal flag
    np.testing.assert_array_equal(kept.observations[:, 0], [0, 1, 2, 20, 21, 30])
    np.testing.assert_array_equal(kept.terminals, [0, 0, 1, 0, 0, 0])


def test_top_episodes_fraction_rounding():
    n = 30
    obs = np.arange(n, dtype=np.float64)[:, None]
    ds = Dataset(obs, np.zeros((n, 1)), np.arange(n), obs + 0.5, np.zeros(n), np.ones(n))  # 30 one-row episodes
    assert len(ds.top_episodes(fraction=0.1)) == 3  # 0.1 * 30 is 3.0000000000000004 in floating point
    np.testing.assert_array_equal(ds.top_episodes(fraction=0.1).rewards, [27, 28, 29])


def test_top_episodes_needs_exactly_one_option(tiny):
    with pytest.raises(ConfigError):
        tiny.top_episodes()
    with pytest.raises(ConfigError):
        tiny.top_episodes(fraction=0.5, k=1)
    with pytest.raises(ConfigError):
        tiny.top_episodes(fraction=0.0)


def test_concat_keeps_episodes_apart(tiny):
    part = tiny.select(slice(0, 2))  # rows 0-1: an unfinished episode
    both = Dataset.concat([part, tiny])
    assert len(both) == 10
    assert both.timeouts[1]  # end of the first part is made explicit
    np.testing.assert_array_equal(both.episode_lengths(), [2, 3, 2, 2, 1])
    assert both.name == "tiny-v0"


def test_concat_keeps_common_infos_and_refuses_other_spaces(tiny, flagged):
    a = Dataset(**tiny_arrays(), infos={"x": np.zeros(8), "y": np.zeros((8, 2))}, name="a")
    b = Dataset(**tiny_arrays(), infos={"x": np.ones(8), "y": np.zeros((8, 3))}, name="b")
    both = Dataset.concat([a, b])
    assert sorted(both.infos) == ["x"] and both.name == "a+b"
    with pytest.raises(DataError) as info:
        Dataset.concat([tiny, flagged])
    assert "flagged-v0" in str(info.value) and "tiny.hdf5" in str(info.value)


def test_create_derives_next_observations_like_qlearning_dataset():
    # Raw D4RL layout without next_observations, states 0..7:
    # episode A rows 0-2 (terminal at 2), B rows 3-5 (timeout at 5), C rows 6-7 (end of file).
    s = np.arange(8, dtype=np.float64)[:, None]
    ds = Dataset.create(
        observations=s,
        actions=np.zeros((8, 1)),
        rewards=np.arange(8) * 10.0,
        terminals=[0, 0, 1, 0, 0, 0, 0, 0],
        timeouts=[0, 0, 0, 0, 0, 1, 0, 0],
        infos={"step": np.arange(8)},
    )
    # Row 5 (timeout) and row 7 (last, not terminal) have no successor: dropped.
    np.testing.assert_array_equal(ds.observations[:, 0], [0, 1, 2, 3, 4, 6])
    np.testing.assert_array_equal(ds.next_observations[:, 0], [1, 2, 3, 4, 5, 7])
    np.testing.assert_array_equal(ds.rewards, [0, 10, 20, 30, 40, 60])
    np.testing.assert_array_equal(ds.terminals, [0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(ds.timeouts, [0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(ds.infos["step"], [0, 1, 2, 3, 4, 6])
    np.testing.assert_array_equal(ds.episode_lengths(), [3, 2, 1])


def test_create_keeps_a_terminal_last_row():
    s = np.arange(3, dtype=np.float64)[:, None]
    ds = Dataset.create(s, np.zeros((3, 1)), np.ones(3), terminals=[0, 0, 1], timeouts=[0, 0, 0])
    np.testing.assert_array_equal(ds.next_observations[:, 0], [1, 2, 2])
    np.testing.assert_array_equal(ds.terminals, [0, 0, 1])


def test_summary(tiny):
    summary = tiny.summary()
    assert summary["transitions"] == 8 and summary["episodes"] == 4
    assert summary["obs_dim"] == 2 and summary["action_dim"] == 2
    assert summary["return_mean"] == pytest.approx((6 - 0.5 + 8 + 10) / 4)
    assert summary["return_min"] == -0.5 and summary["return_max"] == 10
    assert summary["return_std"] == pytest.approx(np.std([6, -0.5, 8, 10]))
    assert summary["episode_length_mean"] == 2.0
    assert summary["terminals"] == 1 and summary["timeouts"] == 1


def test_frozen_and_cached(tiny):
    with pytest.raises(dataclasses.FrozenInstanceError):
        tiny.name = "other"
    assert tiny.episode_ends is tiny.episode_ends
    with pytest.raises(ValueError):
        tiny.episode_ends[0] = True
