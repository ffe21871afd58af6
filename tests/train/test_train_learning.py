"""End-to-end learning through the trainer (the bandit smoke tests of each algorithm are in tests/algos)."""

from seamrl.config import RunConfig
from seamrl.train import train


def test_sac_learns_pendulum_online(tmp_path):
    run = RunConfig(algo="sac", task="Pendulum-v1", setting="online", online_steps=4000, eval_every=4000, eval_episodes=5,
                    seed=1, out=str(tmp_path / "sac"), agent={"learning_starts": 500, "hidden_dims": (64, 64)})
    summary, _ = train(run, quiet=True)
    # a random policy scores about −1200; swinging up and balancing gives about −150
    assert summary["initial"] < -900
    assert summary["final"] > -400, summary
