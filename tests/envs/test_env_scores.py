import numpy as np
import pytest

from seamrl.envs import list_tasks, normalized_score, reference_scores, register_task, task_info
from seamrl.errors import EnvError


def test_hopper_hand_numbers():
    assert normalized_score("hopper-medium-v2", 3234.3) == pytest.approx(100.0)
    assert normalized_score("hopper-medium-v2", -20.272305) == pytest.approx(0.0)
    mid = (3234.3 + -20.272305) / 2
    out = normalized_score("hopper-medium-v2", [mid, 3234.3])
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [50.0, 100.0])


# algorithms.md §8, copied exactly.
TABLE = {
    "halfcheetah-medium-v2": (-280.178953, 12135.0),
    "halfcheetah-full-replay-v1": (-280.178953, 12135.0),
    "hopper-random-v2": (-20.272305, 3234.3),  # D4RL's *-v0 locomotion names belong to the seamrl suite
    "walker2d-medium-replay-v2": (1.629008, 4592.3),
    "ant-medium-expert-v2": (-325.6, 3879.7),
    "antmaze-umaze-v2": (0.0, 1.0),
    "antmaze-large-diverse-v0": (0.0, 1.0),
    "pen-human-v1": (96.262799, 3076.8331017826877),
    "hammer-cloned-v1": (-274.856578, 12794.134825156867),
    "door-expert-v0": (-56.512833, 2880.5693087298737),
    "relocate-human-v1": (-6.425911, 4233.877797728884),
    "kitchen-complete-v0": (0.0, 4.0),
    "kitchen-partial-v0": (0.0, 4.0),
    "maze2d-umaze-v1": (23.85, 161.86),
    "maze2d-medium-v1": (13.13, 277.39),
    "maze2d-large-v1": (6.7, 273.99),
    "maze2d-umaze-dense-v1": (68.537689, 193.66285642381482),
    "maze2d-medium-dense-v1": (44.264742, 297.4552547777125),
    "maze2d-large-dense-v1": (30.569041, 303.4857382709002),
}


@pytest.mark.parametrize("task", sorted(TABLE))
def test_reference_table(task):
    assert reference_scores(task) == TABLE[task]


def test_plain_gymnasium_id_has_no_reference():
    assert reference_scores("Hopper-v5") is None
    assert normalized_score("Hopper-v5", [1.0]) is None


def test_register_task_hook():
    info = register_task(
        "toy-pendulum-v0", "Pendulum-v1", ref_min=-1500.0, ref_max=-100.0,
        max_episode_steps=50, dataset="toy/pendulum-v0", env_kwargs={"g": 9.0},
    )
    assert "toy-pendulum-v0" in list_tasks()
    assert task_info("toy-pendulum-v0") == info
    assert normalized_score("toy-pendulum-v0", -100.0) == pytest.approx(100.0)
    info2 = task_info("toy-pendulum-v0")
    info2.env_kwargs["g"] = 1.0  # a copy: the registry is not modified
    assert task_info("toy-pendulum-v0").env_kwargs["g"] == 9.0


@pytest.mark.parametrize(
    "kwargs",
    [dict(ref_min=1.0), dict(ref_min=5.0, ref_max=5.0), dict(max_episode_steps=0)],
)
def test_register_task_validation(kwargs):
    with pytest.raises(EnvError):
        register_task("bad-task-v0", "Pendulum-v1", **kwargs)
