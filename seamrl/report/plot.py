"""Learning curves (PNG) from run directories.

x axis: offline gradient steps, then online environment steps (a dotted line marks each
phase switch); y: normalised score when the task has reference scores, else return. Runs
with the same algorithm and setting are averaged (mean ± std over seeds).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from seamrl.errors import ConfigError


def read_curve(run_dir: Path) -> tuple[str, np.ndarray, np.ndarray, list[float], str]:
    metrics = run_dir / "metrics.csv"
    if not metrics.exists():
        raise ConfigError(f"'{run_dir}' has no metrics.csv; is it a seamrl run directory?")
    rows = [r for r in csv.DictReader(open(metrics)) if r.get("eval_return_mean")]
    config = json.loads((run_dir / "config.json").read_text())["run"]
    use_norm = all(r.get("eval_normalized_mean") for r in rows)
    key = "eval_normalized_mean" if use_norm else "eval_return_mean"
    xs, ys, switches = [], [], []
    offset, base, previous = 0, 0, None
    for r in rows:
        counter = "grad_step" if r["phase_kind"] == "offline" else "env_step"
        if previous is not None and r["phase"] != previous["phase"]:
            offset, base = xs[-1], int(previous[counter])  # the new phase starts where the last row left off
            switches.append(offset)
        xs.append(offset + int(r[counter]) - base)
        ys.append(float(r[key]))
        previous = r
    label = f"{config['algo']} ({config['setting']})"
    return label, np.asarray(xs), np.asarray(ys), switches, "normalised score" if use_norm else "return"


def plot_runs(run_dirs: list[str], out: str | None = None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seamrl.train.seeds import expand_run_dirs

    groups: dict[str, list] = defaultdict(list)
    ylabel, switches, task = "return", set(), ""
    first, run_dirs = run_dirs[0], expand_run_dirs(run_dirs)  # a --seeds run: its seeds, averaged like separate runs
    for d in run_dirs:
        label, x, y, sw, ylabel = read_curve(Path(d))
        groups[label].append((x, y))
        switches.update(sw)
        task = json.loads((Path(d) / "config.json").read_text())["run"]["task"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, curves in groups.items():
        n = min(len(c[0]) for c in curves)
        x = curves[0][0][:n]
        ys = np.stack([c[1][:n] for c in curves])
        mean = ys.mean(0)
        ax.plot(x, mean, label=f"{label} ×{len(curves)}" if len(curves) > 1 else label)
        if len(curves) > 1:
            ax.fill_between(x, mean - ys.std(0), mean + ys.std(0), alpha=0.2)
    for s in sorted(switches):
        ax.axvline(s, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("gradient steps (offline) / env steps (online)")
    ax.set_ylabel(ylabel)
    ax.set_title(task)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(out) if out else Path(first) / "curves.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)
