"""Policy actions over dataset actions (UNIVR paper, Figure 3), one panel per run, as a PNG.

For each run directory: the run's dataset (``--dataset`` or the task's registered / suite dataset)
and its latest checkpoint are loaded; ``states`` dataset states are drawn at random (seeded), and the
policy's actions at those states (as in evaluation: deterministic for a Gaussian policy, one sampler
draw for a diffusion policy, mapped to the environment's action box) are drawn over the dataset's
actions. The axes are the first two action dimensions (PointMaze: the x/y force); a 1-D action is
drawn against the first state dimension.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seamrl.errors import ConfigError


def policy_and_dataset_actions(run_dir: str | Path, states: int = 1000, seed: int = 0) -> dict:
    """``{"label", "task", "dataset_actions", "policy_actions", "states", "state_actions"}`` for one run
    (``state_actions``: the dataset's own actions at the sampled ``states``)."""
    from seamrl.train import load_trainer

    run_dir = Path(run_dir)
    trainer = load_trainer(run_dir)
    if trainer.dataset is None:
        raise ConfigError(f"Run '{run_dir}' has no dataset (setting '{trainer.run.setting}'); `plot actions` needs an offline or offline-to-online run.")
    data = trainer.dataset
    n = len(data.observations)
    rng = np.random.default_rng(seed)
    idx = rng.choice(n, size=min(states, n), replace=False)
    obs = np.asarray(data.observations[idx], np.float32)
    actions = np.asarray(trainer.policy(deterministic=True)(obs))
    agent = json.loads((run_dir / "config.json").read_text()).get("agent", {})
    parts = [trainer.run.algo] + [str(agent[k]) for k in ("policy", "estimator") if k in agent]
    return {
        "label": " / ".join(parts),
        "task": trainer.run.task,
        "dataset_actions": np.asarray(data.actions, np.float32),
        "policy_actions": actions,
        "states": obs,
        "state_actions": np.asarray(data.actions[idx], np.float32),
    }


def _xy(actions: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Plot coordinates: the first two action dimensions, or (state 1, action) for 1-D actions."""
    if actions.shape[1] >= 2:
        return actions[:, 0], actions[:, 1], "action 1", "action 2"
    return states[:, 0], actions[:, 0], "state 1", "action"


def plot_actions(run_dirs: list[str], out: str | None = None, states: int = 1000, seed: int = 0) -> str:
    """One panel per run: dataset actions (grey) and the policy's actions at sampled dataset states."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [policy_and_dataset_actions(d, states, seed) for d in run_dirs]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for ax, p in zip(axes[0], panels):
        data = p["dataset_actions"]
        if data.shape[1] >= 2:  # up to 5,000 of all dataset actions
            shown = data[np.random.default_rng(seed).choice(len(data), size=min(5000, len(data)), replace=False)]
            x, y, _, _ = _xy(shown, shown)
        else:  # 1-D: the dataset's actions at the sampled states
            x, y, _, _ = _xy(p["state_actions"], p["states"])
        ax.scatter(x, y, s=3, c="0.75", alpha=0.5, label="dataset actions", rasterized=True)
        px, py, xl, yl = _xy(p["policy_actions"], p["states"])
        ax.scatter(px, py, s=6, c="tab:red", alpha=0.7, label="policy actions", rasterized=True)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(f"{p['label']}\n{p['task']}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=7, markerscale=2)
    fig.tight_layout()
    path = Path(out) if out else Path(run_dirs[0]) / "actions.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)
