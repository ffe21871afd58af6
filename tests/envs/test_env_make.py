import sys

import numpy as np
import pytest

from seamrl.envs import make, spec_of, task_info
from seamrl.errors import EnvError


def test_unknown_gymnasium_id_suggests_close_name():
    with pytest.raises(EnvError) as err:
        make("Hoper-v5")
    msg = str(err.value)
    assert "'Hoper-v5'" in msg and "did you mean 'Hopper-v5'?" in msg
    assert "\n" not in msg


def test_unknown_d4rl_name_suggests_registered_task():
    with pytest.raises(EnvError, match="did you mean 'hopper-medium-v2'"):
        make("hopper-medum-v2")


def test_unknown_without_close_match_has_no_suggestion():
    with pytest.raises(EnvError) as err:
        make("zzzzqqqq")
    assert "did you mean" not in str(err.value)


def test_discrete_action_space_rejected():
    with pytest.raises(EnvError, match="continuous Box action space"):
        make("CartPole-v1")


def test_bad_env_kwarg_is_env_error():
    with pytest.raises(EnvError, match="does not accept"):
        make("Pendulum-v1", not_an_option=3)


def test_missing_family_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "shimmy", None)  # import shimmy -> ImportError
    with pytest.raises(EnvError) as err:
        make("dm_control/finger-turn_hard-v0")
    msg = str(err.value)
    assert "needs package shimmy" in msg and "pip install" in msg and "\n" not in msg


def test_make_seed_is_reproducible_and_spec():
    a, b = make("Pendulum-v1", seed=7), make("Pendulum-v1", seed=7)
    np.testing.assert_array_equal(a.reset()[0], b.reset()[0])
    assert a.observation_space.dtype == np.float32
    spec = spec_of(a)
    assert spec.obs_shape == (3,) and spec.obs_dim == 3 and spec.action_dim == 1
    assert spec.action_low.tolist() == [-2.0] and spec.action_high.tolist() == [2.0]
    assert spec.max_episode_steps == 200


def test_d4rl_names_resolve_to_current_envs():
    assert task_info("hopper-medium-v2").env_id == "Hopper-v5"
    assert task_info("halfcheetah-medium-expert-v2").env_id == "HalfCheetah-v5"
    assert task_info("walker2d-medium-replay-v2").env_id == "Walker2d-v5"
    assert task_info("ant-expert-v2").env_id == "Ant-v5"
    assert task_info("antmaze-umaze-v2").env_id == "AntMaze_UMaze-v5"
    assert task_info("antmaze-large-play-v2").env_id == "AntMaze_Large-v5"
    assert task_info("maze2d-umaze-v1").env_id == "PointMaze_UMaze-v3"
    assert task_info("maze2d-large-dense-v1").env_id == "PointMaze_LargeDense-v3"
    assert task_info("pen-human-v1").env_id == "AdroitHandPen-v1"
    assert task_info("kitchen-mixed-v0").env_id == "FrankaKitchen-v1"
    assert task_info("hopper-medium-v2").max_episode_steps == 1000
    env = make("hopper-medium-v2", seed=0)
    assert env.spec.id == "Hopper-v5" and env.observation_space.shape == (11,)


def test_task_kwargs_and_overrides():
    env = make("Pendulum-v1", max_episode_steps=17, g=9.0)
    assert spec_of(env).max_episode_steps == 17
    assert env.unwrapped.g == 9.0


# Every family, and the whole online benchmark of the UNIVR paper (Table 3, algorithms.md §3.9) by the ids
# `--task` takes: Hopper/HalfCheetah/Walker2d/Humanoid-v5, AntBulletEnv-v0, BipedalWalker-v3 and the two DMC tasks.
OPTIONAL = [
    ("Hopper-v5", ("mujoco",)),
    ("HalfCheetah-v5", ("mujoco",)),
    ("Walker2d-v5", ("mujoco",)),
    ("Humanoid-v5", ("mujoco",)),
    ("FrankaKitchen-v1", ("gymnasium_robotics",)),
    ("kitchen-complete-v0", ("gymnasium_robotics",)),
    ("AntMaze_UMaze-v5", ("gymnasium_robotics",)),
    ("antmaze-medium-diverse-v2", ("gymnasium_robotics",)),
    ("PointMaze_UMaze-v3", ("gymnasium_robotics",)),
    ("pen-human-v1", ("gymnasium_robotics",)),
    ("dm_control/finger-turn_hard-v0", ("shimmy", "dm_control")),
    ("dm_control/quadruped-walk-v0", ("shimmy", "dm_control")),
    ("AntBulletEnv-v0", ("pybullet", "pybullet_envs_gymnasium")),
    ("BipedalWalker-v3", ("Box2D", "pygame")),
]


@pytest.mark.parametrize("task,modules", OPTIONAL, ids=[t for t, _ in OPTIONAL])
def test_optional_family_constructs_and_steps(task, modules):
    for module in modules:  # optional packages (requirements-envs.txt)
        pytest.importorskip(module)
    env = make(task, seed=0)
    spec = spec_of(env)
    assert spec.max_episode_steps is not None and spec.max_episode_steps > 0
    obs, _ = env.reset(seed=1)
    assert obs.dtype == np.float32 and obs.shape == spec.obs_shape and len(spec.obs_shape) == 1
    for _ in range(3):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert obs.dtype == np.float32 and obs.shape == spec.obs_shape
        assert np.isfinite(float(reward))
    env.close()


def test_registered_task_with_unknown_env_id():
    from seamrl.envs import register_task

    register_task("maketest-typo-v0", "Hoper-v5")
    with pytest.raises(EnvError, match="maps to unknown env id 'Hoper-v5'; did you mean 'Hopper-v5'"):
        make("maketest-typo-v0")


USER_ENV = '''
import gymnasium as gym
import numpy as np


class Reach(gym.Env):
    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.array([self.np_random.uniform(-1, 1), 0.0]), {}

    def step(self, action):
        return np.array([0.0, 1.0]), 0.0, False, False, {}


gym.register("SeamrlUserReach-v0", entry_point=Reach, max_episode_steps=7)
'''


def test_a_users_own_env_is_reached_by_module_colon_id(tmp_path, monkeypatch):
    """README "your own environment": ``make("my_module:Id-v0")`` imports the module, which registers the env
    with Gymnasium; training, resume and eval all make their envs through ``make``."""
    (tmp_path / "seamrl_user_envs.py").write_text(USER_ENV)
    monkeypatch.syspath_prepend(str(tmp_path))
    env = make("seamrl_user_envs:SeamrlUserReach-v0", seed=0)
    obs, _ = env.reset()
    assert obs.dtype == np.float32 and obs.shape == (2,)
    assert spec_of(env).max_episode_steps == 7 and spec_of(env).action_dim == 1
    with pytest.raises(EnvError, match="seamrl_user_envs:SeamrlUserMissing-v0"):
        make("seamrl_user_envs:SeamrlUserMissing-v0")
