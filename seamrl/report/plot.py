"""Learning curves (PNG) from run directories.

x axis: offline gradient steps, then online environment steps (a dotted line marks each
phase switch); y: normalised score when every run's task has reference scores, else return
(``metric`` forces one). Runs with the same algorithm, task, setting and options are averaged
(mean ± std over seeds); options that differ between runs of one algorithm name their curves.

``online=True`` draws only the online phases against environment steps, with the evaluation
just before each online phase at that phase's first step, so a fine-tuning run and a run from
scratch share one axis (e.g. Uni-O4 offline-to-online against PPO from scratch).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from seamrl.errors import ConfigError


METRICS = ("auto", "return", "normalized")


def eval_rows(run_dir: Path) -> list[dict]:
    """The rows of a run's metrics.csv that hold an evaluation."""
    metrics = run_dir / "metrics.csv"
    if not metrics.exists():
        raise ConfigError(f"'{run_dir}' has no metrics.csv; is it a seamrl run directory?")
    return [r for r in csv.DictReader(open(metrics)) if r.get("eval_return_mean")]


def has_normalized(run_dir: Path, rows: list[dict] | None = None) -> bool:
    rows = eval_rows(run_dir) if rows is None else rows
    return bool(rows) and all(r.get("eval_normalized_mean") for r in rows)


def read_curve(run_dir: Path, metric: str = "auto", online: bool = False) -> tuple[np.ndarray, np.ndarray, list[float], str]:
    """(x, y, phase switches on x, y label) of one run; see the module docstring for ``online``."""
    if metric not in METRICS:
        raise ConfigError(f"metric '{metric}' is unknown; expected one of {', '.join(METRICS)}.")
    rows = eval_rows(run_dir)
    config = json.loads((run_dir / "config.json").read_text())["run"]
    normalized = has_normalized(run_dir, rows)
    use_norm = metric == "normalized" or (metric == "auto" and normalized)
    if use_norm and not normalized:
        raise ConfigError(f"'{run_dir}' has no normalised scores (task {config['task']} has no reference scores); use --metric return.")
    key = "eval_normalized_mean" if use_norm else "eval_return_mean"
    xs, ys, switches = [], [], []
    offset, base, previous = 0, 0, None
    for r in rows:
        if online:
            if r["phase_kind"] != "online":
                previous = r
                continue
            if previous is not None and previous["phase_kind"] != "online":  # the evaluation at the switch
                xs.append(int(previous["env_step"]))
                ys.append(float(previous[key]))
                if previous["phase"] != r["phase"] and xs[:-1]:
                    switches.append(xs[-1])
            xs.append(int(r["env_step"]))
        else:
            counter = "grad_step" if r["phase_kind"] == "offline" else "env_step"
            if previous is not None and r["phase"] != previous["phase"]:
                offset, base = xs[-1], int(previous[counter])  # the new phase starts where the last row left off
                switches.append(offset)
            xs.append(offset + int(r[counter]) - base)
        ys.append(float(r[key]))
        previous = r
    if online and not xs:
        raise ConfigError(f"'{run_dir}' has no online phase to plot; drop --online.")
    return np.asarray(xs), np.asarray(ys), switches, "normalised score" if use_norm else "return"


def curve_labels(run_dirs: list[str]) -> dict[str, str]:
    """The legend label of each run: ``algo (setting)``, then the options that tell it apart from runs
    of the same algorithm, task and setting (``cql_sa (offline-to-online; replay_init=part)``), then
    the task when runs of several tasks are drawn. Runs with one label are seeds of one curve."""
    from seamrl.report.tables import distinguishing_options, group_key, run_options

    keys, options = {}, {}
    for d in run_dirs:
        opts = run_options(Path(d))
        run = json.loads((Path(d) / "config.json").read_text())["run"]
        keys[d] = group_key(run["algo"], run["task"], run["setting"], opts)
        options[keys[d]] = opts
    several_tasks = len({key[1] for key in keys.values()}) > 1
    labels = {}
    for d, key in keys.items():
        parts = "; ".join([key[2], *distinguishing_options(key, list(options), options)])
        labels[d] = f"{key[0]} ({parts})" + (f" on {key[1]}" if several_tasks else "")
    return labels


def plot_runs(run_dirs: list[str], out: str | None = None, metric: str = "auto", online: bool = False) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seamrl.train.seeds import expand_run_dirs

    groups: dict[str, list] = defaultdict(list)
    ylabel, switches, tasks = "return", set(), []
    first, run_dirs = run_dirs[0], expand_run_dirs(run_dirs)  # a --seeds run: its seeds, averaged like separate runs
    if metric == "auto" and not all(has_normalized(Path(d)) for d in run_dirs):
        metric = "return"  # one y axis for all runs
    labels = curve_labels(run_dirs)
    for d in run_dirs:
        x, y, sw, ylabel = read_curve(Path(d), metric, online)
        groups[labels[d]].append((x, y))
        switches.update(sw)
        tasks.append(json.loads((Path(d) / "config.json").read_text())["run"]["task"])
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
    ax.set_xlabel("env steps (online phases)" if online else "gradient steps (offline) / env steps (online)")
    ax.set_ylabel(ylabel)
    ax.set_title(" / ".join(dict.fromkeys(tasks)))  # each task once, in order
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(out) if out else Path(first) / "curves.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)
