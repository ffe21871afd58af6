"""The changed-environment wrapper: scaled MuJoCo friction and masses (online→offline→online)."""

import numpy as np
import pytest

from seamrl import envs
from seamrl.errors import EnvError


def _model(env):
    return env.unwrapped.model


def test_friction_and_mass_are_scaled_and_change_the_dynamics():
    base, changed = envs.make("Hopper-v5", seed=0), envs.make("Hopper-v5", seed=0, friction=0.8, mass_scale=1.2)
    np.testing.assert_allclose(_model(changed).geom_friction, 0.8 * _model(base).geom_friction, rtol=1e-6)
    np.testing.assert_allclose(_model(changed).body_mass, 1.2 * _model(base).body_mass, rtol=1e-6)
    np.testing.assert_allclose(_model(changed).body_inertia, 1.2 * _model(base).body_inertia, rtol=1e-6)
    action = np.full(3, 0.5, np.float32)
    for _ in range(20):
        a, *_ = base.step(action)
        b, *_ = changed.step(action)
    assert a.shape == b.shape and np.abs(a - b).max() > 1e-3  # same start, same actions, different trajectories
    again = envs.make("Hopper-v5", seed=0)  # each env owns its model: the base is untouched
    np.testing.assert_allclose(_model(again).body_mass, _model(base).body_mass)


def test_vector_envs_take_the_change():
    vec = envs.make_vector("Hopper-v5", 2, seed=0, mass_scale=2.0)
    base = envs.make("Hopper-v5")
    for env in vec.envs:
        np.testing.assert_allclose(_model(env).body_mass, 2.0 * _model(base).body_mass, rtol=1e-6)


def test_invalid_changes_are_one_sentence_errors():
    with pytest.raises(EnvError, match="not a MuJoCo environment"):
        envs.make("Pendulum-v1", friction=0.5)
    with pytest.raises(EnvError, match="positive factor"):
        envs.make("Hopper-v5", mass_scale=0.0)
