"""Per-evaluation figures of a seed group, from each seed's metrics.csv (the numbers the benchmarks
README quotes at 1k … 10k steps): the normalised score, mean ± population std over seeds and per seed,
then for each extra column its min–max over seeds at that step.

    python scripts/eval_curve.py RUN_DIR [COLUMN ...]
    python scripts/eval_curve.py benchmarks/runs/univr-offline-diffusion-softplus/univr-pointmaze-umaze-v0 \
        u_dead_frac u_mean weight_std q_mean
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from seamrl.errors import ConfigError
from seamrl.report.plot import eval_rows, has_normalized
from seamrl.train.seeds import is_seeds_dir, seed_dirs


def main(run_dir: str, columns: list[str]) -> None:
    dirs = seed_dirs(run_dir) if is_seeds_dir(run_dir) else [Path(run_dir)]
    try:
        seeds = [eval_rows(d) for d in dirs]
    except ConfigError as e:
        sys.exit(str(e))
    if not all(has_normalized(d, rows) for d, rows in zip(dirs, seeds)):
        sys.exit(f"'{run_dir}' has evaluations without eval_normalized_mean; this script reads normalised scores (a suite dataset's run).")
    print("| grad step | score (mean ± std) | per seed | " + " | ".join(f"{c} (min–max)" for c in columns) + " |")
    print("|---" * (3 + len(columns)) + "|")
    for rows in zip(*seeds):
        scores = [float(r["eval_normalized_mean"]) for r in rows]
        cells = [f"{statistics.mean(scores):.1f} ± {statistics.pstdev(scores):.1f}", " / ".join(f"{s:.1f}" for s in scores)]
        for c in columns:
            values = [float(r[c]) for r in rows if r.get(c)]
            cells.append(f"{min(values):.3g}–{max(values):.3g}" if values else "–")
        print(f"| {rows[0]['grad_step']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
