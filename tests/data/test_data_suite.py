import numpy as np
import pytest

from seamrl import envs
from seamrl.data import load_dataset, suite
from seamrl.errors import DataError


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SEAMRL_DATA", str(tmp_path))


def test_suite_lists_26_datasets_and_registers_them_as_tasks():
    table = suite.entries()  # the 23 plus the dense-reward PointMaze variants
    assert len(table) == 26 and sum(e.dense for e in table.values()) == 3
    assert len(suite.list_table().splitlines()) == 27
    info = envs.task_info("walker2d-medium-replay-v0")
    assert info.env_id == "Walker2d-v5" and info.dataset == "suite:walker2d-medium-replay-v0"
    assert envs.task_info("pointmaze-umaze-v0").env_id == envs.task_info("maze2d-umaze-v1").env_id
    assert envs.task_info("pointmaze-large-dense-v0").env_id == envs.task_info("maze2d-large-dense-v1").env_id


def test_suite_names_use_the_suite_reference_scores():
    # the suite's `<env>-<kind>-v0` names shadow D4RL's v0 names; D4RL's scores stay on -v2 (docs/datasets.md)
    measured = suite.reference_scores()
    for env, ref in measured.items():
        assert envs.reference_scores(f"{env}-medium-v0") == (ref["random"], ref["expert"])
    assert envs.reference_scores("hopper-medium-v2") == (-20.272305, 3234.3)


def test_dense_pointmaze_is_the_same_trajectories_with_dense_rewards():
    sparse = suite.build_dataset("pointmaze-umaze-v0", size=2000)
    dense = suite.build_dataset("pointmaze-umaze-dense-v0", size=2000)
    np.testing.assert_array_equal(sparse.observations, dense.observations)
    assert set(np.unique(sparse.rewards)) <= {0.0, 1.0} and len(np.unique(dense.rewards)) > 100


def test_build_is_deterministic_and_cached(tmp_path):
    a = suite.build_dataset("hopper-random-v0", size=3000, seed=0)
    b = suite.build_dataset("hopper-random-v0", size=3000, seed=0)
    c = suite.build_dataset("hopper-random-v0", size=3000, seed=1)
    assert suite.array_hash(a) == suite.array_hash(b) != suite.array_hash(c)
    path = suite.build("hopper-random-v0", size=3000)
    assert path.parent == tmp_path / "suite"
    loaded = load_dataset(path)
    assert suite.array_hash(loaded) == suite.array_hash(a)
    assert not np.any(loaded.terminals & loaded.timeouts) and loaded.terminals.any()  # random hopper falls
    norm = envs.normalized_score("hopper-random-v0", loaded.episode_returns())
    assert abs(norm.mean()) < 5  # a random policy scores about 0


def test_unknown_and_unbuildable_names_are_one_sentence():
    with pytest.raises(DataError, match="did you mean 'hopper-medium-v0'"):
        suite.get("hoper-medium-v0")
    if not suite.policy_path("hopper", "medium").exists():
        with pytest.raises(DataError, match="behaviour policy"):
            suite.build_dataset("hopper-medium-v0", size=10)


@pytest.fixture(scope="module")
def shipped_policies(tmp_path_factory):
    """A tiny SAC run on Hopper-v5 with policy snapshots, exported the way the suite ships them."""
    import json

    from seamrl.config import RunConfig
    from seamrl.policy import export_policy
    from seamrl.train import train

    root = tmp_path_factory.mktemp("behaviour")
    run = RunConfig(algo="sac", task="Hopper-v5", setting="online", online_steps=400, eval_every=10_000, eval_episodes=1,
                    save_policy_every=100, checkpoint_every=0, out=str(root / "run"),
                    agent={"hidden_dims": (16, 16), "learning_starts": 100, "batch_size": 32})
    _, run_dir = train(run, quiet=True)
    policies = root / "policies"
    export_policy(run_dir, policies / "hopper-expert.npz", "policy_p0_400")
    export_policy(run_dir, policies / "hopper-medium.npz", "policy_p0_300")
    checkpoints = []
    for i, step in enumerate((100, 200)):
        export_policy(run_dir, policies / f"hopper-replay-{i:02d}.npz", f"policy_p0_{step}")
        checkpoints.append({"file": f"hopper-replay-{i:02d}.npz", "from_step": step})
    manifest = {"random_steps": 100, "medium_step": 300, "checkpoints": checkpoints}
    (policies / "hopper-replay.json").write_text(json.dumps(manifest))
    return policies


@pytest.fixture
def shipped(shipped_policies, monkeypatch):
    monkeypatch.setattr(suite, "policy_path", lambda env, level: shipped_policies / f"{env}-{level}.npz")
    return shipped_policies


def test_medium_replay_mixes_checkpoints_in_buffer_proportions(shipped):
    # the warm-up (0–100), checkpoint 0 (100–200) and checkpoint 1 (200–300) each acted for a third of the run
    assert suite.replay_segments("hopper", 3000) == [(None, 1000), ("hopper-replay-00.npz", 1000), ("hopper-replay-01.npz", 1000)]
    assert [n for _, n in suite.replay_segments("hopper", 1001)] == [333, 333, 335]
    a = suite.build_dataset("hopper-medium-replay-v0", size=1500)
    b = suite.build_dataset("hopper-medium-replay-v0", size=1500)
    assert len(a) == 1500 and suite.array_hash(a) == suite.array_hash(b)
    assert a.timeouts[499] or a.terminals[499]  # each segment ends its last episode
    assert np.abs(a.actions[:500]).max() <= 1 and a.actions[:500].std() > 0.5  # the warm-up is uniform random


def test_medium_expert_is_the_cached_medium_and_expert_sets(shipped):
    both = suite.build_dataset("hopper-medium-expert-v0", size=2000)
    medium = load_dataset(suite.path_of("hopper-medium-v0", 1000))
    expert = load_dataset(suite.path_of("hopper-expert-v0", 1000))
    np.testing.assert_array_equal(both.observations, np.concatenate([medium.observations, expert.observations]))
    assert both.name == "hopper-medium-expert-v0"


def test_reference_scores_are_measured_over_full_episodes(shipped):
    scores = suite.measure_reference_scores("hopper", episodes=3)
    assert scores["episodes"] == 3 and scores["random"] < 100 and np.isfinite(scores["expert"])
