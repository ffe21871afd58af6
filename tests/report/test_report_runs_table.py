"""`seamrl table`: seeds of the same configuration are averaged; runs that differ in an option form
separate groups labelled with that option; a seed counted twice is reported."""

from __future__ import annotations

import json

import pytest

from seamrl.errors import ConfigError
from seamrl.report.tables import runs_table


def _run(path, seed: int, final: float, replay_init: str = "all", alpha: float = 2.5):
    path.mkdir(parents=True)
    phases = [{"final": 30.0, "first": 20.0, "best": 40.0}, {"final": final, "first": 25.0, "lowest": 10.0 + seed, "best": final}]
    summary = {"algo": "td3bc", "task": "hopper-medium-v0", "setting": "offline-to-online", "seed": seed, "metric": "normalized",
               "initial": 0.0, "final": final, "best": final, "grad_steps": 10, "env_steps": 10, "wall_time": 1.0, "phases": phases}
    config = {"run": {"algo": "td3bc", "seed": seed, "out": str(path), "replay_init": replay_init, "checkpoint_every": seed},
              "agent": {"alpha": alpha}}
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "config.json").write_text(json.dumps(config))
    return str(path)


def _aggregate(table: str) -> list[list[str]]:
    lines = table.split("\n\n")[1].splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_groups_are_split_by_options_and_labelled(tmp_path, capsys):
    runs = [_run(tmp_path / f"all{s}", s, 40.0 + s) for s in range(2)]
    runs += [_run(tmp_path / f"half{s}", s, 60.0 + 2 * s, replay_init="half") for s in range(2)]
    rows = _aggregate(runs_table(runs))
    assert [r[0] for r in rows] == ["td3bc (replay_init=all)", "td3bc (replay_init=half)"]
    assert [r[3] for r in rows] == ["2", "2"]  # checkpoint_every differs per seed but does not split a group
    assert rows[0][5] == "40.5 ± 0.5" and rows[1][5] == "61.0 ± 1.0"
    assert rows[1][4] == "30.0 ± 0.0 → 25.0 ± 0.0 (10.5 ± 0.5)"
    assert capsys.readouterr().err == ""


def test_single_seed_rows_are_labelled_too(tmp_path):
    runs = [_run(tmp_path / "all", 0, 40.0), _run(tmp_path / "none", 0, 50.0, replay_init="none")]
    table = runs_table(runs)
    assert "\n\n" not in table  # one seed per configuration: no aggregate table
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    assert [(r[0], r[7]) for r in rows] == [("td3bc (replay_init=all)", "40.0"), ("td3bc (replay_init=none)", "50.0")]


def test_a_seed_counted_twice_is_reported(tmp_path, capsys):
    runs = [_run(tmp_path / "a", 0, 40.0), _run(tmp_path / "b", 0, 42.0)]
    rows = _aggregate(runs_table(runs))
    assert rows[0][0] == "td3bc" and rows[0][3] == "2"
    assert "seed 0 of td3bc on hopper-medium-v0 appears twice" in capsys.readouterr().err


def test_runs_before_and_after_an_option_change_are_one_group(tmp_path):
    """An option added since a run was made takes its default; one no longer in the code is left out."""
    old = _run(tmp_path / "old", 0, 40.0)  # made before `alpha` existed, with an option since renamed
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    config["agent"] = {"renamed_alpha": 2.5}
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    runs = [old, _run(tmp_path / "new", 1, 42.0), _run(tmp_path / "other", 0, 50.0, alpha=3.0)]
    rows = _aggregate(runs_table(runs))
    assert [(r[0], r[3]) for r in rows] == [("td3bc (alpha=2.5)", "2"), ("td3bc (alpha=3.0)", "1")]


def test_options_of_an_algorithm_this_version_lacks_are_read_as_recorded(tmp_path):
    from pathlib import Path

    from seamrl.report.tables import run_options

    (tmp_path / "config.json").write_text(json.dumps({"run": {"algo": "retired", "seed": 3, "x": 1}, "agent": {"y": 2}}))
    assert run_options(Path(tmp_path)) == {"algo": "retired", "x": 1, "y": 2}


def _metrics(path, rows: list[tuple]) -> None:
    """metrics.csv with (phase, kind, grad_step, env_step, normalized score or '') rows."""
    lines = ["phase,phase_kind,grad_step,env_step,eval_normalized_mean,actor_loss"]
    lines += [f"{p},{k},{g},{e},{v},0.5" for p, k, g, e, v in rows]
    (path / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_early_column_is_the_lowest_evaluation_in_the_window_after_the_switch(tmp_path):
    runs = [_run(tmp_path / f"s{s}", s, 50.0) for s in range(2)]
    # offline → online: the window counts env steps from the switch; the 1,000-step row without a score is skipped
    _metrics(tmp_path / "s0", [(0, "offline", 5000, 0, 5.0), (0, "offline", 10000, 0, 30.0), (1, "online", 10500, 500, ""),
                               (1, "online", 11000, 1000, 12.0), (1, "online", 12000, 2000, 8.0), (1, "online", 13000, 3000, 1.0)])
    _metrics(tmp_path / "s1", [(0, "offline", 10000, 0, 30.0), (1, "online", 11000, 1000, 20.0), (1, "online", 12000, 2000, 14.0)])
    table = runs_table(runs, early=2000)
    per_seed = [[c.strip() for c in line.strip("|").split("|")] for line in table.split("\n\n")[0].splitlines()[2:]]
    assert [r[7] for r in per_seed] == ["8.0", "14.0"]  # 1.0 at 3,000 steps is outside the window; 5.0 is before the switch
    assert _aggregate(table)[0][5] == "11.0 ± 3.0"
    assert "lowest in the first 2000 steps after" in table.splitlines()[0]
    assert "lowest in the first" not in runs_table(runs)  # no column without --early


def test_early_window_counts_gradient_steps_after_an_online_to_offline_switch(tmp_path):
    from pathlib import Path

    from seamrl.report.tables import early_lowest

    path = tmp_path / "run"
    path.mkdir()
    _metrics(path, [(0, "online", 2000, 2000, 9.0), (1, "offline", 2500, 2000, 7.0), (1, "offline", 4000, 2000, 3.0)])
    assert early_lowest(Path(path), 500, "normalized") == 7.0
    assert early_lowest(Path(path), 2000, "normalized") == 3.0
    assert early_lowest(Path(path), 100, "normalized") is None
    (path / "metrics.csv").unlink()
    with pytest.raises(ConfigError, match="has no metrics.csv"):
        early_lowest(Path(path), 100, "normalized")


def test_a_missing_run_directory_is_named(tmp_path):
    from seamrl.report.plot import plot_runs

    with pytest.raises(ConfigError, match="No run directory at '.*nowhere'"):
        runs_table([str(tmp_path / "nowhere")])
    with pytest.raises(ConfigError, match="No run directory at '.*nowhere'"):
        plot_runs([str(tmp_path / "nowhere")], str(tmp_path / "x.png"))
