"""Does Uni-O4's AM-Q gate rank the policies of the offline improvement stage the way their true
returns do? (issue #5; algorithms.md §4.5–4.6)

Takes a finished Uni-O4 offline run (its ``latest`` checkpoint holds the BC members, the IQL critics
and the dynamics model), restarts the improvement stage from the BC members with the given
``improve_lr`` values, and every ``--every`` steps records, for each member's π_θ, its AM-Q (the
gate's score, on a fixed set of dataset start states) and its true normalised return. Writes one CSV
row per (lr, step, member) and prints, per lr, the rank correlation of AM-Q with the return and the
return of the policy the gate would select.

    python scripts/unio4_gate_probe.py RUN_DIR --lrs 1e-4,1e-5 --steps 5000 --every 500 --out probe.csv
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import replace

import jax
import numpy as np
from scipy.stats import spearmanr

from seamrl.algos import unio4
from seamrl.algos.unio4_ensemble import member
from seamrl.train.trainer import load_trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--lrs", default="1e-4,1e-5")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--out", default="unio4_gate_probe.csv")
    args = parser.parse_args()

    trainer = load_trainer(args.run_dir)
    trainer.run = replace(trainer.run, eval_episodes=args.episodes)
    base = trainer.state
    obs = jax.random.choice(jax.random.PRNGKey(7), trainer.offline.arrays["observations"][: int(trainer.offline.size)], (512,), replace=False)
    score = jax.jit(lambda s: unio4.ope_scores(s, s.improving.params, obs, jax.random.PRNGKey(11)))
    rows = []
    for lr in (float(x) for x in args.lrs.split(",")):
        state = unio4.restart_improvement(base, improve_lr=lr, improve_steps=args.steps, ope_every=args.every)
        start = int(state.step)
        for step in range(0, args.steps + 1, args.every):
            amq = np.asarray(score(state))
            for m in range(amq.shape[0]):
                trainer.state = state.replace(actor=state.actor.replace(params=member(state.improving.params, m)))
                result = trainer.evaluate()
                rows.append({"lr": lr, "step": step, "member": m, "amq": float(amq[m]),
                             "normalized": result["normalized_mean"], "return": result["return_mean"]})
                print(rows[-1], flush=True)
            if step < args.steps:
                state, _ = trainer.updates(state, args.every, start=start + step)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for lr in sorted({r["lr"] for r in rows}):
        sub = [r for r in rows if r["lr"] == lr]
        amq, ret = np.array([r["amq"] for r in sub]), np.array([r["return"] for r in sub])
        bc = max(r["return"] for r in sub if r["step"] == 0)
        print(f"lr {lr:g}: Spearman(AM-Q, return) = {spearmanr(amq, ret)[0]:.2f} over {len(sub)} policies; "
              f"highest AM-Q has return {ret[amq.argmax()]:.0f} (best BC member {bc:.0f}, best seen {ret.max():.0f})")


if __name__ == "__main__":
    main()
