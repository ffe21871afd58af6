"""FLOPs of one compiled update (XLA's cost analysis, as `seamrl bench`) for an algorithm with string-valued options,
on the bench's synthetic shapes (batch from the config, 17-d observations, 6-d actions).

    python scripts/update_flops.py univr ivr "univr policy=diffusion"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from seamrl.bench.throughput import TASK, synthetic_dataset, update_flops
from seamrl.config import RunConfig
from seamrl.train import Trainer


def main(specs: list[str]) -> None:
    work = Path(tempfile.mkdtemp())
    data = synthetic_dataset(work / "synthetic.npz", 5000)
    for i, spec in enumerate(specs):
        algo, *sets = spec.split()
        overrides = dict(item.split("=", 1) for item in sets)
        run = RunConfig(algo=algo, task=TASK, setting="offline", dataset=str(data), offline_steps=20_000, buffer_size=1000,
                        agent=overrides)
        flops = update_flops(Trainer(run, work / f"run{i}", quiet=True))
        print(f"{spec}: {flops / 1e9:.2f} GFLOP per update" if flops else f"{spec}: no cost analysis (rollout agent)")


if __name__ == "__main__":
    main(sys.argv[1:] or ["univr", "ivr", "univr policy=diffusion"])
