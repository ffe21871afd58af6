#!/usr/bin/env bash
# Wheels that the lent GPU machine lacks (its image has JAX, flax, optax, h5py, matplotlib, tqdm; see
# /work/.library/device/KINDS.md): Gymnasium and MuJoCo with their small dependencies, for CPython 3.12,
# into .whl/ (git-ignored through .git/info/exclude; about 22 MB, under the 64 MiB a call carries).
# A device call then carries .whl and starts with
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
#     && export PYTHONPATH=/tmp/site:$PWD || exit;
# and runs seamrl as `python3 -m seamrl.cli ...` (e.g. bench --parts online-seeds --out $OUT/gpu-online-seeds.json).
set -euo pipefail
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
platforms=""
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms="$platforms --platform $p"
done
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $platforms -d .whl \
  gymnasium==1.4.0 mujoco==3.11.0 glfw pyopengl farama-notifications
