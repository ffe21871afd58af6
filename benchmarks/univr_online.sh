#!/usr/bin/env bash
# UNIVR online from scratch against TD3 and SAC on Hopper-v5 and HalfCheetah-v5: 100k env steps,
# 3 seeds, 10 deterministic evaluation episodes every 5k steps, a resumable checkpoint every 10k.
# Each algorithm keeps its own defaults: UNIVR Table 3 (α = 1, λ = 0.2, 3×256, lr 1e-3) with the
# measured online-from-scratch choices (E3, clipped π̄ targets, σ ≥ 0.1) and 5k random steps;
# SAC 5k and TD3 25k random steps (CleanRL). Re-running resumes or skips what is done.
#   bash benchmarks/univr_online.sh [OUT] [STEPS]
set -euo pipefail
out=${1:-benchmarks/runs/univr-online}; steps=${2:-100000}
SETTING=online bash benchmarks/sweep.sh $out $steps "univr td3 sac" "Hopper-v5 HalfCheetah-v5" 0,1,2 --eval-every 5000
