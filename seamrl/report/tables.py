"""Text tables printed by the CLI."""

from __future__ import annotations

from pathlib import Path


def _fmt(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_summary(summary: dict, run_dir: Path) -> None:
    """The evaluation table at the end of ``seamrl train`` / ``seamrl demo``."""
    metric = summary["metric"]
    print(f"\n{summary['algo']} on {summary['task']} ({summary['setting']}, seed {summary['seed']}) — {metric}")
    print(f"{'phase':<10}{'steps':>10}{'first':>10}{'final':>10}{'best':>10}{'steps/s':>10}")
    print(f"{'start':<10}{0:>10}{_fmt(summary['initial']):>10}")
    for p in summary["phases"]:
        rate = p.get("grad_steps_per_s") if p["kind"] == "offline" else p.get("env_steps_per_s")
        print(f"{p['kind']:<10}{p['steps']:>10}{_fmt(p['first']):>10}{_fmt(p['final']):>10}{_fmt(p['best']):>10}{_fmt(rate, 0):>10}")
    print(f"run directory: {run_dir}  (metrics.csv, summary.json, checkpoints/)")


def algos_table() -> str:
    from seamrl import algos

    rows = [f"{'name':<10}{'settings':<40}{'policy':<16}description"]
    for name, description in algos.ALGORITHMS.items():
        module = algos.get(name)
        rows.append(f"{name:<10}{', '.join(module.SETTINGS):<40}{module.POLICY:<16}{description}")
    return "\n".join(rows)


def data_info(path: str, fmt: str | None = None) -> str:
    from seamrl import envs
    from seamrl.data import load_dataset

    ds = load_dataset(path, format=fmt)
    s = ds.summary()
    lines = [f"{path}"] + [f"  {k:<22}{_fmt(v, 3) if isinstance(v, float) else v}" for k, v in s.items()]
    task = ds.name or Path(path).stem
    try:
        norm = envs.normalized_score(task, ds.episode_returns())
    except Exception:  # unknown task names have no reference scores
        norm = None
    if norm is not None:
        lines.append(f"  {'normalized_score':<22}{norm.mean():.1f} ± {norm.std():.1f} ({task})")
    return "\n".join(lines)


def data_import(path: str, fmt: str | None, out: str | None) -> str:
    from seamrl.data import load_dataset, save_npz
    from seamrl.train.tasks import data_home

    ds = load_dataset(path, format=fmt)
    target = Path(out) if out else data_home() / "imported" / f"{Path(str(path).rstrip('/')).stem}.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    save_npz(ds, target)
    return f"imported {len(ds)} transitions ({ds.summary().get('episodes')} episodes) to {target}"
