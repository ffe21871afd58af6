"""Helpers shared by the data tests (unique module name so it cannot clash with other test folders)."""

from __future__ import annotations

import re

import numpy as np

from seamrl.data import Dataset


def tiny_arrays() -> dict[str, np.ndarray]:
    """Four episodes in eight rows, each ending for a different reason.

    rows 0-2  states 0,1,2   rewards 1, 2, 3    ends with a terminal at row 2
    rows 3-4  states 10,11   rewards 0.5, -1    ends with a timeout at row 4
    rows 5-6  states 20,21   rewards 4, 4       ends because next_obs[6]=99 != obs[7]=30
    row  7    state 30       reward 10          ends because it is the last row
    Observations are (s, -s) so that they have two dimensions.
    """
    s = np.array([0, 1, 2, 10, 11, 20, 21, 30], dtype=np.float64)
    s_next = np.array([1, 2, 3, 11, 12, 21, 99, 31], dtype=np.float64)
    return {
        "observations": np.stack([s, -s], axis=1),
        "actions": np.linspace(-1, 1, 16).reshape(8, 2),
        "rewards": np.array([1, 2, 3, 0.5, -1, 4, 4, 10], dtype=np.float64),
        "next_observations": np.stack([s_next, -s_next], axis=1),
        "terminals": np.array([0, 0, 1, 0, 0, 0, 0, 0], dtype=np.float32),
        "timeouts": np.array([0, 0, 0, 0, 1, 0, 0, 0], dtype=bool),
    }


def assert_one_sentence(message: str, *fragments: str) -> None:
    """A user-facing message: one line, one sentence, naming every fragment."""
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith("."), message
    assert re.search(r"[.;]\s+[A-Z]", message.replace("e.g.", "eg")) is None, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


ARRAY_KEYS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")


def assert_same_arrays(a: Dataset, b: Dataset) -> None:
    for key in ARRAY_KEYS:
        x, y = getattr(a, key), getattr(b, key)
        assert x.dtype == y.dtype and x.shape == y.shape, key
        np.testing.assert_array_equal(x, y, err_msg=key)
    assert sorted(a.infos) == sorted(b.infos)
    for key in a.infos:
        np.testing.assert_array_equal(a.infos[key], b.infos[key], err_msg=f"infos/{key}")
