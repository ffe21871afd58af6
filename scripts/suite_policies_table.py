"""Markdown table of the shipped behaviour policies, from their manifests (docs/datasets.md)."""

import json

from seamrl.data import suite


def main() -> None:
    print("| env | expert (run step, stochastic return) | medium (run step, return, × expert) | intermediate checkpoints (steps) | warm-up share of medium-replay |")
    print("|---|---|---|---|---|")
    for env in suite.LOCOMOTION:
        path = suite.policy_path(env, "replay").with_suffix(".json")
        if not path.exists():
            print(f"| {env} | not shipped yet | | | |")
            continue
        m = json.loads(path.read_text())
        expert, medium = m["expert"], m["medium"]
        steps = [c["from_step"] for c in m["checkpoints"]]
        print(f"| {env} | {expert['checkpoint'].split('_')[-1]}, {expert['return']:.0f} "
              f"| {m['medium_step']}, {medium['return']:.0f}, {medium['return'] / expert['return']:.2f} "
              f"| {len(steps)} ({steps[0]}–{steps[-1]}) | {steps[0] / m['medium_step']:.0%} |")


if __name__ == "__main__":
    main()
