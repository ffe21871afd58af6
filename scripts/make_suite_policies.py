"""Choose and export the behaviour policies the seamrl suite ships (``seamrl/assets/policies``).

For one env family this writes ``<env>-expert.npz``, ``<env>-medium.npz``, ``<env>-replay-NN.npz``
and the manifest ``<env>-replay.json`` from two SAC runs made by ``scripts/train_behaviour_policies.sh``:

* the **expert** is the best of the last ``--expert-candidates`` policy snapshots of the long run,
  by the mean return of its *stochastic* policy (the one that generates ``-expert-v0``) over 20
  episodes;
* the **medium** policy is the first snapshot of the densely snapshotted run whose stochastic return
  reaches ``--medium-fraction`` (0.3) of the expert's — D4RL stopped its medium SAC early "at about
  one third of the expert", and so does this choice;
* **intermediate checkpoints** are up to ``--replay-checkpoints`` snapshots of that run taken before the
  medium one (evenly spaced, from the first trained snapshot on); in ``-medium-replay-v0`` each acts
  for the share of the run from its step to the next chosen one, after the uniform-random warm-up.

Usage (one env family; about two minutes each on 2 CPU cores):
    python scripts/make_suite_policies.py hopper runs/behaviour/sac-Hopper-v5-s0 runs/behaviour/sac-Hopper-v5-s1
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from seamrl.data import suite
from seamrl.envs.evaluate import Evaluator
from seamrl.policy import export_policy
from seamrl.train import load_run_config, load_trainer

SELECTION_SEED = 20_000  # episodes used to choose policies; the reference scores use other seeds


def snapshots(run_dir: Path) -> list[tuple[int, str]]:
    """``(env step, checkpoint name)`` of a run's policy snapshots, by step."""
    found = [(int(m.group(1)), p.stem) for p in (run_dir / "checkpoints").glob("policy_p0_*.ckpt")
             if (m := re.fullmatch(r"policy_p0_(\d+)", p.stem))]
    return sorted(found)


def stochastic_return(evaluator: Evaluator, run_dir: Path, checkpoint: str, episodes: int) -> float:
    policy = load_trainer(run_dir, checkpoint).policy(deterministic=False)
    return float(evaluator(policy, episodes, SELECTION_SEED)["return_mean"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env", choices=list(suite.LOCOMOTION))
    parser.add_argument("expert_run", type=Path)
    parser.add_argument("dense_run", type=Path)
    parser.add_argument("--expert-candidates", type=int, default=4)
    parser.add_argument("--medium-fraction", type=float, default=0.3)
    parser.add_argument("--replay-checkpoints", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=10, help="episodes per snapshot when searching for medium")
    args = parser.parse_args()

    task = suite.LOCOMOTION[args.env]
    evaluator = Evaluator(task)
    out = suite.policy_path(args.env, "expert").parent
    out.mkdir(parents=True, exist_ok=True)

    candidates = snapshots(args.expert_run)[-args.expert_candidates:]
    expert_returns = {name: stochastic_return(evaluator, args.expert_run, name, 20) for _, name in candidates}
    expert_name = max(expert_returns, key=expert_returns.get)
    expert_return = expert_returns[expert_name]
    print(f"expert candidates {expert_returns} -> {expert_name}")

    learning_starts = load_trainer(args.dense_run, snapshots(args.dense_run)[0][1]).config.learning_starts
    trained = [(step, name) for step, name in snapshots(args.dense_run) if step >= learning_starts]
    medium = None
    returns: dict[int, float] = {}
    for step, name in trained:
        returns[step] = stochastic_return(evaluator, args.dense_run, name, args.episodes)
        print(f"  {name}: {returns[step]:.1f}")
        if returns[step] >= args.medium_fraction * expert_return:
            medium = (step, name)
            break
    if medium is None:
        raise SystemExit(f"no snapshot of {args.dense_run} reaches {args.medium_fraction} x {expert_return:.0f}; train it longer")
    before = [s for s in trained if s[0] < medium[0]]
    picks = sorted({int(round(i)) for i in np.linspace(0, len(before) - 1, min(args.replay_checkpoints, len(before)))})
    chosen = [before[i] for i in picks]

    export_policy(args.expert_run, out / f"{args.env}-expert.npz", expert_name)
    export_policy(args.dense_run, out / f"{args.env}-medium.npz", medium[1])
    manifest = {
        "env": task,
        "runs": {"expert": str(load_run_config(args.expert_run).out), "dense": str(load_run_config(args.dense_run).out)},
        "selection": f"stochastic returns over {args.episodes}-20 episodes from seed {SELECTION_SEED}",
        "expert": {"checkpoint": expert_name, "return": expert_return},
        "medium": {"checkpoint": medium[1], "return": returns[medium[0]]},
        "random_steps": learning_starts,
        "medium_step": medium[0],
        "checkpoints": [],
    }
    for i, (step, name) in enumerate(chosen):
        file = f"{args.env}-replay-{i:02d}.npz"
        export_policy(args.dense_run, out / file, name)
        manifest["checkpoints"].append({"file": file, "from_step": step, "return": returns[step]})
    (out / f"{args.env}-replay.json").write_text(json.dumps(manifest, indent=2) + "\n")
    evaluator.close()
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
