import numpy as np
import pytest

from seamrl.envs import make, make_vector, real_next_obs, spec_of
from seamrl.errors import EnvError


def test_final_observations_at_truncation():
    n, horizon = 3, 200  # Pendulum truncates at 200 steps
    vec = make_vector("Pendulum-v1", n, seed=0)
    assert vec.single_observation_space.dtype == np.float32
    assert spec_of(vec).max_episode_steps == horizon
    obs, _ = vec.reset()
    singles = [make("Pendulum-v1", seed=i) for i in range(n)]
    single_obs = [e.reset()[0] for e in singles]
    np.testing.assert_array_equal(obs, np.stack(single_obs))
    actions = np.array([[0.3], [-1.0], [2.0]], np.float32)
    for t in range(horizon):
        next_obs, _, term, trunc, info = vec.step(actions)
        nxt = real_next_obs(next_obs, info)
        for i, env in enumerate(singles):
            o, _, te, tr, _ = env.step(actions[i])
            np.testing.assert_allclose(nxt[i], o, rtol=0, atol=0)
            assert te == term[i] and tr == trunc[i]
        if t < horizon - 1:
            np.testing.assert_array_equal(nxt, next_obs)
            assert "_final_obs" not in info
    assert trunc.all() and not term.any()
    # SAME_STEP: the returned obs already belongs to the next episode, the buffer gets final_obs.
    assert not np.allclose(nxt, next_obs)
    restarted = np.stack([e.reset()[0] for e in singles])
    np.testing.assert_array_equal(next_obs, restarted)


def test_real_next_obs_partial_mask():
    next_obs = np.zeros((3, 2), np.float32)
    final = np.array([None, np.ones(2), None], dtype=object)
    info = {"final_obs": final, "_final_obs": np.array([False, True, False])}
    out = real_next_obs(next_obs, info)
    np.testing.assert_array_equal(out, [[0, 0], [1, 1], [0, 0]])
    assert next_obs.sum() == 0


def test_make_vector_validates():
    with pytest.raises(EnvError, match="num_envs=0"):
        make_vector("Pendulum-v1", 0, seed=0)
    with pytest.raises(EnvError, match="did you mean 'Pendulum-v1'"):
        make_vector("Pendulm-v1", 2, seed=0)
