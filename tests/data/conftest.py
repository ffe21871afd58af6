"""Shared fixtures for the data tests: a tiny hand-made dataset and a private Minari root."""

from __future__ import annotations

import numpy as np
import pytest

from seamrl.data import Dataset

from data_testutils import tiny_arrays


@pytest.fixture
def tiny() -> Dataset:
    return Dataset(**tiny_arrays(), name="tiny-v0", source="tiny.hdf5")


@pytest.fixture
def flagged() -> Dataset:
    """A dataset whose every episode ends with a terminal or timeout flag (exact round trips)."""
    rng = np.random.default_rng(0)
    lengths, ends = [5, 3, 7, 4], ["terminal", "timeout", "timeout", "terminal"]
    obs, nxt, term, tout = [], [], [], []
    for length, end in zip(lengths, ends):
        states = rng.normal(size=(length + 1, 3)).astype(np.float32)
        obs.append(states[:-1])
        nxt.append(states[1:])
        flags = np.zeros(length, bool)
        flags[-1] = True
        term.append(flags if end == "terminal" else np.zeros(length, bool))
        tout.append(flags if end == "timeout" else np.zeros(length, bool))
    n = sum(lengths)
    return Dataset(
        observations=np.concatenate(obs),
        actions=rng.uniform(-1, 1, size=(n, 2)).astype(np.float32),
        rewards=rng.normal(size=n).astype(np.float32),
        next_observations=np.concatenate(nxt),
        terminals=np.concatenate(term),
        timeouts=np.concatenate(tout),
        infos={"qpos": rng.normal(size=(n, 4)).astype(np.float32), "goal/xy": rng.normal(size=(n, 2))},
        name="flagged-v0",
    )


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    root = tmp_path / "minari"
    root.mkdir()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root
