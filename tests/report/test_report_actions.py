"""`seamrl plot actions` (UNIVR Figure 3): policy actions over dataset actions, one panel per run."""

from __future__ import annotations

import numpy as np
import pytest

from seamrl.cli import main
from seamrl.errors import ConfigError
from seamrl.report.actions import policy_and_dataset_actions


@pytest.fixture(scope="module")
def maze_runs(tmp_path_factory):
    """Two tiny runs (BC and UNIVR) trained for 300 steps on a 3,000-transition PointMaze suite dataset."""
    from seamrl.data import save_npz, suite

    tmp = tmp_path_factory.mktemp("actions")
    data = save_npz(suite.build_dataset("pointmaze-umaze-v0", 3000, seed=0), tmp / "pointmaze-umaze-3000.npz")
    runs = []
    for algo in ("bc", "univr"):
        run_dir = tmp / algo
        code = main(["train", algo, "--task", "pointmaze-umaze-v0", "--dataset", str(data), "--offline-steps", "300",
                     "--eval-every", "300", "--eval-episodes", "1", "--set", "hidden_dims=16,16", "--out", str(run_dir), "--quiet"])
        assert code == 0
        runs.append(run_dir)
    return runs


def test_plot_actions_two_runs_side_by_side(maze_runs, tmp_path, capsys):
    out = tmp_path / "actions.png"
    assert main(["plot", "actions", *map(str, maze_runs), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith("actions.png")
    import matplotlib.image as mpimg

    image = mpimg.imread(out)
    assert image.shape[1] > 1.8 * image.shape[0]  # two square-ish panels side by side
    bc, univr = (policy_and_dataset_actions(d, states=200) for d in maze_runs)
    for panel in (bc, univr):
        assert panel["policy_actions"].shape == (200, 2) and panel["dataset_actions"].shape == (3000, 2)
        assert np.all(np.abs(panel["policy_actions"]) <= 1.0 + 1e-6)  # PointMaze's action box
        assert np.isfinite(panel["policy_actions"]).all()
    assert bc["label"] == "bc" and univr["label"] == "univr / gaussian / E1" and bc["task"] == "pointmaze-umaze-v0"
    assert np.abs(bc["policy_actions"] - univr["policy_actions"]).max() > 1e-3  # two different policies
    np.testing.assert_array_equal(bc["states"], univr["states"])  # the same sampled dataset states


def test_plot_actions_needs_run_dirs_and_datasets(tmp_path, capsys):
    assert main(["plot", "actions"]) == 2
    assert "one or more RUN_DIRs" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        policy_and_dataset_actions(tmp_path / "missing")
