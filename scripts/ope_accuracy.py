"""How well does AM-Q rank policies? (Uni-O4 Figure 6(a); issue #5.)

The policies are the suite's shipped SAC snapshots of one environment (the checkpoints of
``<env>-replay.json``, then medium and expert): policies of known, widely different quality,
none of them trained on the dataset. Their true return is measured in the real environment
(deterministic actions, ``--episodes`` episodes). AM-Q scores each with one dynamics ensemble
fitted on ``--dataset`` and the Q critic of ``CRITIC_RUN`` (e.g. IQL trained on that dataset),
exactly what ``seamrl ope CRITIC_RUN --policies ...`` computes.

AM-Q is a mean Q value, not a return, so besides rank correlations (Spearman, Kendall) the
errors are those of AM-Q mapped to returns by a least-squares line fitted on the *other*
policies (leave-one-out): the fraction of policies within 10% and 25% of the true return
(relative to the spread of true returns, max − min, so near-zero returns do not blow up).

    python scripts/ope_accuracy.py CRITIC_RUN --env hopper --dataset hopper-medium-replay-v0 \\
        --out benchmarks/ope-accuracy-hopper
    python scripts/ope_accuracy.py --replot benchmarks/ope-accuracy-hopper.json   # redraw the plot only
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("critic_run", nargs="?")
    parser.add_argument("--env", default="hopper")
    parser.add_argument("--dataset", default="hopper-medium-replay-v0")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--starts", type=int, default=512)
    parser.add_argument("--horizon", type=int, default=1000)
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/ope-accuracy")
    parser.add_argument("--replot", metavar="JSON", help="only redraw the plot of an earlier result")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads(Path(args.replot).read_text()), Path(args.replot).with_suffix(".png"))
        return
    if not args.critic_run:
        parser.error("CRITIC_RUN (a run directory with a Q critic) is needed unless --replot is given")

    from scipy import stats

    from seamrl import envs
    from seamrl.data import suite
    from seamrl.ope import evaluate_run
    from seamrl.policy import load_policy

    manifest = json.loads(suite.policy_path(args.env, "replay").with_suffix(".json").read_text())
    folder = suite.policy_path(args.env, "replay").parent
    paths = [folder / c["file"] for c in manifest["checkpoints"]] + [suite.policy_path(args.env, lv) for lv in ("medium", "expert")]
    evaluator = envs.Evaluator(manifest["env"])
    t0 = time.perf_counter()
    true = []
    for path in paths:
        policy = load_policy(path)
        true.append(evaluator(lambda obs, p=policy: p(obs, deterministic=True), args.episodes, seed=50_000)["return_mean"])
    true_seconds = time.perf_counter() - t0
    result = evaluate_run(args.critic_run, args.dataset, args.horizon, args.starts, 0, args.max_epochs, policies=paths)
    amq = np.array([p["am_q"] for p in result["policies"]])
    true = np.array(true)
    spread = true.max() - true.min()
    errors = []
    for i in range(len(paths)):  # leave-one-out line: AM-Q → return
        rest = np.arange(len(paths)) != i
        slope, intercept = np.polyfit(amq[rest], true[rest], 1)
        errors.append(abs(slope * amq[i] + intercept - true[i]) / spread)
    errors = np.array(errors)
    summary = {
        "env": manifest["env"], "dataset": args.dataset, "critic_run": args.critic_run, "episodes": args.episodes,
        "policies": [{"policy": str(p.name), "true_return": float(t), "am_q": float(a), "loo_error": float(e),
                      "mean_rollout_length": r["mean_rollout_length"]}
                     for p, t, a, e, r in zip(paths, true, amq, errors, result["policies"])],
        "spearman": float(stats.spearmanr(amq, true).statistic),
        "kendall": float(stats.kendalltau(amq, true).statistic),
        "within_10pct": float(np.mean(errors <= 0.10)),
        "within_25pct": float(np.mean(errors <= 0.25)),
        "dynamics": result["dynamics"], "horizon": result["horizon"], "starts": result["starts"],
        "seconds": {"true_returns": round(true_seconds, 1), "dynamics_fit": result["dynamics"]["fit_seconds"]},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(summary, out.with_suffix(".png"))
    print(json.dumps({k: summary[k] for k in ("spearman", "kendall", "within_10pct", "within_25pct")}))
    for row in summary["policies"]:
        print(f"{row['policy']:<28} true {row['true_return']:8.1f}  AM-Q {row['am_q']:8.3f}  LOO error {row['loo_error']:.2f}")


def plot(summary: dict, path: Path) -> None:
    """AM-Q against true return, one labelled point per policy (``--replot JSON`` redraws it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    rows = summary["policies"]
    amq, true = [r["am_q"] for r in rows], [r["true_return"] for r in rows]
    ax.scatter(amq, true)
    for r in rows:
        name = Path(r["policy"]).stem.split("-", 1)[1]
        ax.annotate(name, (r["am_q"], r["true_return"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("AM-Q (mean Q over model rollouts)")
    ax.set_ylabel("true return (deterministic, real env)")
    ax.set_title(f"{summary['env']}: critic and model on {summary['dataset']}\n"
                 f"Spearman {summary['spearman']:.2f}, Kendall {summary['kendall']:.2f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
