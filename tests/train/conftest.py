import numpy as np
import pytest

from seamrl.data import collect, save_npz


@pytest.fixture(scope="session")
def pendulum_npz(tmp_path_factory):
    """2,000 transitions of a uniform-random policy on Pendulum-v1 (10 episodes of 200 steps)."""
    rng = np.random.default_rng(0)
    ds = collect(lambda obs: rng.uniform(-2, 2, (len(obs), 1)), "Pendulum-v1", 2000, seed=0)
    path = tmp_path_factory.mktemp("data") / "pendulum-random.npz"
    save_npz(ds, path)
    return path
