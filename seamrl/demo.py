"""``seamrl demo``: the main job end to end on the embedded dataset, in a few minutes.

IQL is pretrained offline on ``hopper-medium-demo-v0`` (50k transitions of a medium Hopper-v5
policy shipped inside the package), then fine-tuned online in Hopper-v5 with the dataset kept
in the replay. The run prints a progress bar, an evaluation table and the path of the
learning-curve plot.
"""

from __future__ import annotations

from pathlib import Path

from seamrl.config import RunConfig
from seamrl.report.plot import plot_runs
from seamrl.report.tables import print_summary
from seamrl.train import train

DEMO = dict(
    algo="iql",
    task="hopper-medium-demo-v0",
    setting="offline-to-online",
    offline_steps=40_000,
    online_steps=40_000,
    eval_every=5_000,
    eval_episodes=10,
    checkpoint_every=10_000,
)


def run_demo(out: str | None = None, quiet: bool = False) -> Path:
    run = RunConfig(**DEMO, out=out or "runs/demo")
    print(
        f"seamrl demo: {run.algo} on {run.task}, {run.offline_steps} offline gradient steps "
        f"then {run.online_steps} online environment steps (about 5 minutes on 2 CPU cores)."
    )
    summary, run_dir = train(run, quiet=quiet)
    print_summary(summary, run_dir)
    print(f"learning curve: {plot_runs([str(run_dir)])}")
    return run_dir
