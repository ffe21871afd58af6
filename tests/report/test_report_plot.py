"""`seamrl plot`: the x axis of whole runs and of their online phases only, and the y metric."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from seamrl.errors import ConfigError
from seamrl.report.plot import curve_labels, plot_runs, read_curve

FIELDS = ["phase", "phase_kind", "grad_step", "env_step", "eval_return_mean", "eval_normalized_mean"]


def _run(path, algo: str, setting: str, rows: list[tuple], normalized: bool = True, task: str | None = None, **options):
    path.mkdir(parents=True)
    with open(path / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for phase, kind, grad, env, ret in rows:
            w.writerow([phase, kind, grad, env, ret, ret / 10 if normalized else ""])
    task = task or ("hopper-medium-v0" if normalized else "Hopper-v5")
    run = {"algo": algo, "setting": setting, "task": task, **options}
    (path / "config.json").write_text(json.dumps({"run": run}))
    return path


O2O = [(0, "offline", 0, 0, 10.0), (0, "offline", 500, 0, 300.0), (0, "offline", 1000, 0, 350.0),
       (1, "online", 1100, 200, 400.0), (1, "online", 1200, 400, 500.0)]


def test_whole_run_then_online_phases_only(tmp_path):
    run = _run(tmp_path / "o2o", "unio4", "offline-to-online", O2O)
    x, y, switches, ylabel = read_curve(run)
    assert list(x) == [0, 500, 1000, 1200, 1400] and switches == [1000] and ylabel == "normalised score"
    assert list(y) == [1.0, 30.0, 35.0, 40.0, 50.0]
    # online only: the score at the switch sits at env step 0, then the online evaluations
    x, y, switches, _ = read_curve(run, metric="return", online=True)
    assert list(x) == [0, 200, 400] and list(y) == [350.0, 400.0, 500.0] and switches == []


def test_online_offline_online_marks_the_second_online_phase(tmp_path):
    rows = [(0, "online", 0, 0, 1.0), (0, "online", 10, 100, 2.0), (1, "offline", 20, 150, 3.0),
            (2, "online", 30, 250, 4.0)]
    x, y, switches, _ = read_curve(_run(tmp_path / "ooo", "unio4", "online-offline-online", rows), online=True)
    assert list(x) == [0, 100, 150, 250] and list(y) == [0.1, 0.2, 0.3, 0.4] and switches == [150]


def test_metric_and_errors(tmp_path):
    scratch = _run(tmp_path / "ppo", "ppo", "online", [(0, "online", 0, 0, 100.0), (0, "online", 10, 200, 150.0)], normalized=False)
    with pytest.raises(ConfigError, match="no normalised scores .* use --metric return"):
        read_curve(scratch, metric="normalized")
    offline = _run(tmp_path / "off", "bc", "offline", O2O[:3])
    with pytest.raises(ConfigError, match="no online phase"):
        read_curve(offline, online=True)
    with pytest.raises(ConfigError, match="metric 'score' is unknown"):
        read_curve(offline, metric="score")
    # a run without reference scores beside one with them: both drawn as returns, one y axis
    o2o = _run(tmp_path / "o2o", "unio4", "offline-to-online", O2O)
    out = plot_runs([str(o2o), str(scratch)], str(tmp_path / "c.png"), online=True)
    assert (tmp_path / "c.png").stat().st_size > 0 and out.endswith("c.png")
    assert np.allclose(read_curve(o2o, "return", True)[1], [350.0, 400.0, 500.0])


def test_curves_are_seeds_of_one_configuration_and_named_by_the_options_that_differ(tmp_path):
    def run(name, algo, seed, task="hopper-medium-v0", **options):
        return str(_run(tmp_path / name, algo, "offline-to-online", O2O, task=task, seed=seed, **options))

    part = [run(f"part{s}", "cql_sa", s, replay_init="part", warmup_steps=5000) for s in (0, 1)]
    half = run("half", "cql_sa", 0, replay_init="half", warmup_steps=5000)
    cql = run("cql", "cql", 0, replay_init="all", warmup_steps=5000)
    labels = curve_labels([*part, half, cql])
    # the seed does not split a curve; replay_init does, and only between runs of one algorithm
    assert labels[part[0]] == labels[part[1]] == "cql_sa (offline-to-online; replay_init=part)"
    assert labels[half] == "cql_sa (offline-to-online; replay_init=half)"
    assert labels[cql] == "cql (offline-to-online)"
    other_task = run("walker", "cql", 0, task="walker2d-medium-replay-v0", replay_init="all", warmup_steps=5000)
    labels = curve_labels([cql, other_task])
    assert labels[cql] == "cql (offline-to-online) on hopper-medium-v0" != labels[other_task]
    plot_runs([*part, half, cql], str(tmp_path / "p.png"), online=True)
    assert (tmp_path / "p.png").stat().st_size > 0
