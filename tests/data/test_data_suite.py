import numpy as np
import pytest

from seamrl import envs
from seamrl.data import load_dataset, suite
from seamrl.errors import DataError


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SEAMRL_DATA", str(tmp_path))


def test_suite_lists_23_datasets_and_registers_them_as_tasks():
    table = suite.entries()
    assert len(table) == 23
    assert len(suite.list_table().splitlines()) == 24
    info = envs.task_info("walker2d-medium-replay-v0")
    assert info.env_id == "Walker2d-v5" and info.dataset == "suite:walker2d-medium-replay-v0"
    assert envs.task_info("pointmaze-umaze-v0").env_id == envs.task_info("maze2d-umaze-v1").env_id


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
