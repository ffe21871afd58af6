"""The CLI contract: commands work, errors are one sentence with exit code 2."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from seamrl.algos import ALGORITHMS, get
from seamrl.cli import main


def _seamrl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "seamrl.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "iqll", "--task", "Hopper-v5"], "did you mean 'iql'"),
        (["train", "iql", "--task", "Hoper-v5", "--setting", "online"], "did you mean 'Hopper-v5'"),
        (["train", "iql", "--task", "Hopper-v5", "--set", "expectle=0.8"], "did you mean 'expectile'"),
        (["train", "bc", "--task", "Hopper-v5", "--setting", "online"], "does not support setting 'online'"),
        (["train", "iql", "--task", "Hopper-v5", "--setting", "offline"], "needs a dataset"),
        (["train", "iql", "--task", "Hopper-v5", "--dataset", "/nonexistent/file.hdf5"], "/nonexistent/file.hdf5"),
        (["data", "info", "/nonexistent.npz"], "/nonexistent.npz"),
        (["eval", "/nonexistent-run"], "is not a run directory"),
        (["train", "iql", "--task", "Hopper-v5", "--setting", "sideways"], "invalid choice"),
    ],
)
def test_errors_are_one_sentence_with_exit_code_2(args, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(args))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_dataset_observation_shape_must_match_env(pendulum_npz, capsys):
    code = main(["train", "iql", "--task", "Hopper-v5", "--dataset", str(pendulum_npz), "--offline-steps", "10", "--quiet"])
    assert code == 2
    assert "observation" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "eval", "export", "plot", "table", "algos", "demo", "data", "bench"])
def test_every_command_has_help(command):
    result = _seamrl(command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout


def test_algos_lists_every_algorithm():
    out = _seamrl("algos").stdout
    for name in ("bc", "sac", "td3", "td3bc", "iql"):
        assert f"\n{name} " in out
    rows = out.strip().splitlines()[1:]
    assert len(rows) == len(ALGORITHMS)
    for row in rows:  # columns stay apart however long a cell is: name, settings, policy, description
        name, settings, policy, description = re.split(r"\s{2,}", row, maxsplit=3)
        assert policy == get(name).POLICY and description == ALGORITHMS[name]


def test_algos_name_lists_every_option_with_its_default_and_source_note(capsys):
    import dataclasses

    assert main(["algos", "univr"]) == 0
    out = capsys.readouterr().out
    options = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and ":" not in line.split()[0]}
    assert set(options) >= {f.name for f in dataclasses.fields(get("univr").Config)}
    assert re.search(r"sql_alpha\s+1\.0\s+Table 4 MuJoCo", options["sql_alpha"])
    assert "None → E1, but E3" in options["estimator"]  # a comment block above the field
    assert "antmaze: sql_alpha=0.1" in out  # presets
    assert main(["algos", "calql"]) == 0
    calql = capsys.readouterr().out
    assert re.search(r"cql_target_gap\s+0\.8\s+g, only with cql_lagrange", calql)  # a note inherited from cql.Config
    assert re.search(r"normalize_observations\s+False\s+Cal-QL configs", calql)  # the subclass's own note wins
    assert main(["algos", "cql_sa"]) == 0  # redefined without a comment: cql.Config's note
    assert re.search(r"critic_layer_norm\s+True\s+off in CORL, on in SSAR", capsys.readouterr().out)
    for name in ALGORITHMS:
        assert main(["algos", name]) == 0 and f"{name}: " in capsys.readouterr().out
    assert main(["algos", "univrr"]) == 2 and "did you mean 'univr'" in capsys.readouterr().err


def test_output_cut_short_by_a_pipe_is_not_an_error():
    """`seamrl algos univr | head -1`: stdout is a pipe whose reader has gone (made certain here by closing it first)."""
    script = ("import os, sys; from seamrl.cli import main; r, w = os.pipe(); os.close(r); os.dup2(w, 1); "
              "code = main(['algos', 'univr']); print('exit', code, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr.strip() == "exit 0"


def test_eval_of_a_seeds_run_evaluates_every_seed_and_export_names_one(tmp_path, pendulum_npz, capsys):
    run_dir = tmp_path / "seeds"
    assert main(["train", "bc", "--task", "Pendulum-v1", "--dataset", str(pendulum_npz), "--offline-steps", "20", "--seeds", "0,1",
                 "--eval-every", "20", "--eval-episodes", "1", "--set", "hidden_dims=8", "--out", str(run_dir), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--episodes", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == [str(run_dir / "s0"), str(run_dir / "s1")]
    returns = [float(re.search(r"return (-?[\d.]+)", line).group(1)) for line in lines[:2]]
    mean, std = map(float, re.search(r"2 seeds: return (-?[\d.]+) ± ([\d.]+)", lines[2]).groups())
    assert mean == pytest.approx(np.mean(returns), abs=0.06) and std == pytest.approx(np.std(returns), abs=0.06)
    assert main(["export", str(run_dir), "--out", str(tmp_path / "p.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert "2 seeds (s0, s1)" in err and str(run_dir / "s0") in err and len(err.splitlines()) == 1
    # a step flag for a phase the run does not have is refused, not ignored: resuming it, and a new run
    for argv in (["train", "--resume", str(run_dir), "--online-steps", "10"],
                 ["train", "bc", "--task", "Pendulum-v1", "--dataset", str(pendulum_npz), "--online-steps", "10"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "--online-steps does not apply: an 'offline' run has no online phase" in err and "offline-to-online" in err
    assert main(["train", "sac", "--task", "Pendulum-v1", "--setting", "online", "--offline-steps", "10"]) == 2
    assert "no offline phase" in capsys.readouterr().err


def test_train_eval_plot_and_data_info(tmp_path, pendulum_npz, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "td3bc", "--task", "Pendulum-v1", "--dataset", str(pendulum_npz), "--offline-steps", "200",
                 "--eval-every", "100", "--eval-episodes", "2", "--set", "hidden_dims=16,16", "--out", str(run_dir), "--quiet"]) == 0
    assert "td3bc on Pendulum-v1" in capsys.readouterr().out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["grad_steps"] == 200 and summary["metric"] == "return"
    assert main(["eval", str(run_dir), "--episodes", "2"]) == 0
    plain = capsys.readouterr().out
    # --set changes the evaluated configuration only: TD3+BC's alpha does not touch acting, a network size does not fit
    config_json = (run_dir / "config.json").read_text()
    assert main(["eval", str(run_dir), "--episodes", "2", "--set", "alpha=5.0"]) == 0
    assert capsys.readouterr().out.strip() == plain.strip() + " with alpha=5.0"
    assert main(["eval", str(run_dir), "--set", "hidden_dims=32,32"]) == 2
    err = capsys.readouterr().err.strip()
    assert "With hidden_dims=32,32 the agent's arrays no longer match checkpoint" in err and len(err.splitlines()) == 1
    assert (run_dir / "config.json").read_text() == config_json
    assert main(["plot", str(run_dir), "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert main(["export", str(run_dir), "--out", str(tmp_path / "policy.npz")]) == 0
    from seamrl.policy import load_policy
    from seamrl.train import load_trainer

    policy, trainer = load_policy(tmp_path / "policy.npz"), load_trainer(run_dir)
    assert trainer.config.alpha == 2.5 and load_trainer(run_dir, overrides=["alpha=5.0"]).config.alpha == 5.0
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(policy(obs), trainer.policy()(obs), atol=1e-6)  # same actions, env's box
    assert policy(obs[0]).shape == (1,) and np.all(np.abs(policy(obs)) <= 2.0)
    assert (tmp_path / "policy.npz").stat().st_size < 200_000
    assert main(["data", "import", str(pendulum_npz), "--out", str(tmp_path / "imported.npz")]) == 0
    assert "imported 2000 transitions" in capsys.readouterr().out
    assert main(["data", "info", str(pendulum_npz)]) == 0
    out = capsys.readouterr().out
    assert "transitions" in out and "2000" in out
