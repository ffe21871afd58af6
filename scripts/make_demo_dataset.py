"""Rebuild seamrl/assets/hopper-medium-demo-v0.npz, the dataset embedded for `seamrl demo` and tests.

1. Train the behaviour policy (about 15 minutes on 2 CPU cores):
       seamrl train sac --task Hopper-v5 --setting online --online-steps 100000 --seed 0 --out runs/sac-hopper-s0
2. Collect 50,000 transitions with its stochastic policy (as D4RL's medium datasets):
       python scripts/make_demo_dataset.py runs/sac-hopper-s0 seamrl/assets/hopper-medium-demo-v0.npz
"""

import sys

from seamrl.data import collect, save_npz
from seamrl.train import load_trainer


def main(run_dir: str, out: str, transitions: int = 50_000, seed: int = 0) -> None:
    policy = load_trainer(run_dir).policy(deterministic=False)
    dataset = collect(policy, "Hopper-v5", transitions, seed=seed, name="hopper-medium-demo-v0")
    save_npz(dataset, out, compress=True)
    print(dataset.summary())


if __name__ == "__main__":
    main(*sys.argv[1:3])
