"""Per-evaluation figures of a seed group, from each seed's metrics.csv (the numbers the benchmarks
README quotes at 1k … 10k steps): the normalised score, mean ± population std over seeds and per seed,
then for each extra column its min–max over seeds at that step.

    python scripts/eval_curve.py RUN_DIR [COLUMN ...]
    python scripts/eval_curve.py benchmarks/runs/univr-offline-diffusion-softplus/univr-pointmaze-umaze-v0 \
        u_dead_frac u_mean weight_std q_mean
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path


def seed_rows(run_dir: Path) -> list[list[dict]]:
    paths = sorted(run_dir.glob("s*/metrics.csv")) or [run_dir / "metrics.csv"]
    if not paths[0].exists():
        sys.exit(f"'{run_dir}' has no metrics.csv and no s*/metrics.csv; expected a run directory of `seamrl train`.")
    return [[r for r in csv.DictReader(open(p, newline="")) if r["eval_normalized_mean"]] for p in paths]


def main(run_dir: str, columns: list[str]) -> None:
    seeds = seed_rows(Path(run_dir))
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
