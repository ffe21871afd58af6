"""Minari datasets written by minari itself (DataCollector on a real MuJoCo env, and episode buffers)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import minari
import numpy as np
import pytest
from minari.data_collector import EpisodeBuffer

from data_testutils import assert_same_arrays
from seamrl.data import load_dataset, save_minari
from seamrl.data.formats import load_minari


def collect_hopper(dataset_id: str, steps: int = 300):
    """Random actions on Hopper-v5 (time limit 30) through minari.DataCollector; returns what was seen."""
    env = minari.DataCollector(gym.make("Hopper-v5", max_episode_steps=30))
    env.action_space.seed(0)
    seen = {k: [] for k in ("obs", "actions", "rewards", "next_obs", "terminated", "truncated")}
    obs = env.reset(seed=0)[0]
    for _ in range(steps):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(seen, (obs, action, reward, next_obs, terminated, truncated)):
            seen[key].append(value)
        obs = next_obs
        if terminated or truncated:
            obs = env.reset()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env.create_dataset(dataset_id, algorithm_name="random", author="seamrl tests")
    env.close()
    # The collector closes the unfinished last episode as truncated.
    seen["truncated"][-1] = seen["truncated"][-1] or not seen["terminated"][-1]
    return {k: np.asarray(v) for k, v in seen.items()}


@pytest.fixture
def hopper(minari_root):
    return collect_hopper("test/hopper-random-v0")


def test_loads_data_collector_dataset_by_id(hopper):
    ds = load_dataset("test/hopper-random-v0")
    assert ds.name == "test/hopper-random-v0" and len(ds) == 300
    assert ds.obs_shape == (11,) and ds.action_dim == 3
    np.testing.assert_allclose(ds.observations, hopper["obs"].astype(np.float32))
    np.testing.assert_allclose(ds.next_observations, hopper["next_obs"].astype(np.float32))
    np.testing.assert_allclose(ds.actions, hopper["actions"])
    np.testing.assert_allclose(ds.rewards, hopper["rewards"].astype(np.float32))
    np.testing.assert_array_equal(ds.terminals, hopper["terminated"])
    np.testing.assert_array_equal(ds.timeouts, hopper["truncated"] & ~hopper["terminated"])
    assert ds.terminals.any() and ds.timeouts.any()  # both kinds of episode end occur with this seed
    env = gym.make("Hopper-v5")
    ds.validate_for(env.observation_space.shape, env.action_space.low, env.action_space.high)


def test_episodes_match_minari_episodes(hopper, minari_root):
    remote = minari.load_dataset("test/hopper-random-v0")
    ds = load_minari(minari_root / "test" / "hopper-random-v0")  # by directory
    assert ds.num_episodes == remote.total_episodes
    returns = [float(np.sum(ep.rewards, dtype=np.float64)) for ep in remote.iterate_episodes()]
    lengths = [len(ep) for ep in remote.iterate_episodes()]
    np.testing.assert_allclose(ds.episode_returns(), returns, rtol=1e-6)
    np.testing.assert_array_equal(ds.episode_lengths(), lengths)
    first = remote[0]
    np.testing.assert_allclose(ds.observations[: len(first)], first.observations[:-1].astype(np.float32))


def test_minari_round_trip_with_env(hopper, minari_root):
    ds = load_dataset("test/hopper-random-v0")
    save_minari(ds, "test/hopper-copy-v0", "Hopper-v5")
    remote = minari.load_dataset("test/hopper-copy-v0")
    assert remote.total_steps == len(ds) and remote.env_spec.id == "Hopper-v5"
    assert_same_arrays(ds, load_dataset("test/hopper-copy-v0"))


def test_train_takes_a_minari_id_as_dataset(hopper, tmp_path, capsys):
    """`seamrl train --dataset ID` with a local Minari id trains on it; a missing path gets one sentence."""
    import json

    from seamrl.cli import main

    run_dir = tmp_path / "run"
    assert main(["train", "bc", "--task", "Hopper-v5", "--dataset", "test/hopper-random-v0", "--setting", "offline",
                 "--offline-steps", "20", "--eval-every", "20", "--set", "eval_episodes=1", "--out", str(run_dir), "--quiet"]) == 0
    assert json.loads((run_dir / "summary.json").read_text())["phases"]
    capsys.readouterr()
    assert main(["train", "bc", "--task", "Hopper-v5", "--dataset", "test/no-such-v0", "--offline-steps", "20"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'test/no-such-v0'" in err and "Minari" in err and len(err.splitlines()) == 1


def test_dict_observations_infos_and_double_flags(minari_root):
    obs_space = gym.spaces.Dict(
        {"b": gym.spaces.Box(-10, 10, (2,)), "a": gym.spaces.Box(-10, 10, (3,))}
    )
    act_space = gym.spaces.Box(-1, 1, (1,))
    t = 4
    a_part = np.arange((t + 1) * 3, dtype=np.float32).reshape(t + 1, 3)
    b_part = -np.arange((t + 1) * 2, dtype=np.float32).reshape(t + 1, 2)
    buffer = EpisodeBuffer(
        observations={"b": b_part, "a": a_part},
        actions=np.full((t, 1), 0.25, dtype=np.float32),
        rewards=np.arange(t, dtype=np.float32),
        terminations=np.array([0, 0, 0, 1], dtype=bool),
        truncations=np.array([0, 0, 0, 1], dtype=bool),  # time limit on the terminal step
        infos={"step": np.arange(t + 1), "nested": {"x": np.arange(t) * 2.0}},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(
            "test/dict-v0", [buffer], observation_space=obs_space, action_space=act_space
        )
    ds = load_dataset("test/dict-v0")
    # sorted keys: 'a' (3 columns) then 'b' (2 columns)
    np.testing.assert_array_equal(ds.observations, np.concatenate([a_part, b_part], axis=1)[:-1])
    np.testing.assert_array_equal(ds.next_observations, np.concatenate([a_part, b_part], axis=1)[1:])
    np.testing.assert_array_equal(ds.terminals, [0, 0, 0, 1])
    np.testing.assert_array_equal(ds.timeouts, [0, 0, 0, 0])  # terminal wins over truncation
    np.testing.assert_array_equal(ds.infos["step"], [0, 1, 2, 3])  # info of obs[t]
    np.testing.assert_array_equal(ds.infos["nested/x"], [0, 2, 4, 6])


def test_save_minari_without_env_uses_default_spaces(flagged, minari_root):
    save_minari(flagged, "test/noenv-v0")
    remote = minari.load_dataset("test/noenv-v0")
    assert remote.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert remote.observation_space.shape == (3,)
    assert remote.total_episodes == flagged.num_episodes
