"""An algorithm written outside seamrl (examples/gaussian_bc.py) runs through the same trainer and commands."""

import csv
from pathlib import Path

import numpy as np
import pytest

from seamrl import algos
from seamrl.cli import main
from seamrl.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gaussian_bc.py"


def test_a_users_algorithm_file_trains_resumes_exports_and_lists_its_options(tmp_path, capsys):
    run_dir = tmp_path / "run"  # the embedded Hopper dataset: a policy's actions, which a Gaussian can fit closely
    assert main(["train", str(EXAMPLE), "--task", "hopper-medium-demo-v0", "--offline-steps", "300",
                 "--eval-every", "100", "--eval-episodes", "1", "--set", "hidden_dims=32,32", "--set", "actor_lr=3e-3",
                 "--out", str(run_dir), "--quiet"]) == 0
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    nll = [float(r["nll"]) for r in rows if r["nll"]]
    assert len(nll) == 3 and nll[-1] < nll[0] - 1.0, nll  # it learns: the likelihood of the data's actions rises
    # the run records the file's absolute path, so resuming (here: extending) works from anywhere
    assert main(["train", "--resume", str(run_dir), "--offline-steps", "400", "--quiet"]) == 0
    assert [r["grad_step"] for r in csv.DictReader((run_dir / "metrics.csv").open())][-1] == "400"
    assert main(["export", str(run_dir), "--out", str(tmp_path / "pi.npz")]) == 0
    from seamrl.policy import load_policy
    from seamrl.train import load_trainer

    obs = np.random.default_rng(0).normal(size=(4, 11)).astype(np.float32)
    np.testing.assert_allclose(load_policy(tmp_path / "pi.npz")(obs), load_trainer(run_dir).policy()(obs), atol=1e-6)
    capsys.readouterr()
    assert main(["algos", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "Gaussian behaviour cloning by maximum likelihood" in out and "actor_lr" in out and "Adam step size" in out


def test_a_module_that_is_not_an_algorithm_gets_one_sentence(tmp_path):
    (tmp_path / "not_an_agent.py").write_text("from dataclasses import dataclass\nSETTINGS = ('offline',)\n")
    with pytest.raises(ConfigError, match=r"is not a seamrl algorithm: it has no Config, init, act, update \(or update_rollout\)"):
        algos.get(str(tmp_path / "not_an_agent.py"))
    (tmp_path / "broken.py").write_text("import no_such_package\n")
    with pytest.raises(ConfigError, match="fails on import: ModuleNotFoundError"):
        algos.get(str(tmp_path / "broken.py"))
    for missing in (tmp_path / "missing.py", tmp_path / "missing"):
        with pytest.raises(ConfigError, match="does not exist; expected a Python file"):
            algos.get(str(missing))
    with pytest.raises(ConfigError, match="cannot be imported"):
        algos.get("no_such_package.agent")


def test_a_run_records_a_users_file_by_its_absolute_path(monkeypatch):
    from seamrl.config import RunConfig

    monkeypatch.chdir(EXAMPLE.parents[1])
    assert RunConfig(algo="examples/gaussian_bc.py", task="Hopper-v5").algo == str(EXAMPLE)
    assert RunConfig(algo="TD3+BC", task="Hopper-v5").algo == "td3bc" and RunConfig(algo="my_pkg.agent", task="t").algo == "my_pkg.agent"
