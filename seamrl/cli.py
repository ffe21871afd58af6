"""The ``seamrl`` command.

    seamrl train ALGO --task TASK --setting {offline,online,offline-to-online} [--set key=value ...]
    seamrl train ALGO --task TASK --seeds 0,1,2   (seeds trained together; RUN_DIR/s<seed> each)
    seamrl train --resume RUN_DIR [--online-steps N | --offline-steps N]   (continue or extend a run)
    seamrl train --resume OFFLINE_RUN --setting offline-to-online --online-steps N   (fine-tune an offline run)
    seamrl eval RUN_DIR [--episodes N]
    seamrl export RUN_DIR --out policy.npz
    seamrl plot RUN_DIR [RUN_DIR ...] [--out PNG] [--metric return] [--online]
    seamrl plot beta RUN_DIR [--out PNG]          (SSAR runs: beta(s) against episode returns)
    seamrl plot actions RUN_DIR [RUN_DIR ...] [--out PNG]   (policy actions over dataset actions, one panel per run)
    seamrl table RUN_DIR [RUN_DIR ...]
    seamrl algos
    seamrl demo
    seamrl data info PATH|NAME | seamrl data import PATH --format {d4rl,minari,npz} [--out FILE]
    seamrl data list | seamrl data build NAME [--size N] | seamrl data export NAME --format {d4rl,minari,npz}
    seamrl ope RUN_DIR [--dataset PATH] [--horizon H]   (AM-Q offline policy evaluation, algorithms.md §4.5)

Errors caused by input are printed as one sentence and exit with code 2.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from seamrl.errors import SeamrlError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one sentence, exit code 2
        self.exit(2, f"seamrl: error: {message[0].upper() + message[1:]}. Run `{self.prog} --help` for usage.\n")


def _enable_compile_cache() -> None:
    """JAX's persistent compilation cache: later processes skip the 1–2 s compile of each update."""
    import jax

    cache = Path(os.environ.get("SEAMRL_JAX_CACHE", Path.home() / ".cache" / "seamrl" / "jax"))
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def cmd_train(args) -> int:
    from seamrl import algos
    from seamrl.config import RunConfig, apply_overrides
    from seamrl.train import resume, train
    from seamrl.train.trainer import check_phase_steps

    if args.resume:
        keys = ("offline_steps", "online_steps", "eval_every", "eval_episodes")  # evaluation does not touch training's streams
        steps = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
        summary, run_dir = resume(args.resume, quiet=args.quiet, steps=steps, setting=args.setting, overrides=args.set)
    else:
        if not args.algo or not args.task:
            raise SeamrlError("`seamrl train` needs ALGO and --task TASK (or --resume RUN_DIR).")
        module = algos.get(args.algo)
        run = RunConfig(algo=args.algo, task=args.task, setting=args.setting or "offline", seed=args.seed, out=args.out, dataset=args.dataset)
        for flag in ("offline_steps", "online_steps", "num_envs", "eval_every", "eval_episodes"):
            if getattr(args, flag) is not None:
                setattr(run, flag, getattr(args, flag))
        check_phase_steps(run, vars(args), hint=" (use --setting offline-to-online to add one)")
        run = apply_overrides(run, module.Config, args.set or [])
        if args.seeds:
            from seamrl.train.seeds import parse_seeds, train_seeds

            summary, run_dir = train_seeds(run, parse_seeds(args.seeds), quiet=args.quiet)
        else:
            summary, run_dir = train(run, quiet=args.quiet)
    from seamrl.report.tables import print_summary

    for one in summary.get("runs", [summary]):
        print_summary(one, Path(run_dir) / f"s{one['seed']}" if "runs" in summary else run_dir)
    if "runs" in summary:
        print(f"\n{len(summary['runs'])} seeds: final {summary['metric']} {summary['final_mean']:.1f} ± {summary['final_std']:.1f}, "
              f"best {summary['best_mean']:.1f} ± {summary['best_std']:.1f}  ({run_dir}/summary.json)")
    return 0


def cmd_eval(args) -> int:
    """Evaluate a run's latest checkpoint; a ``--seeds`` run: every seed, then the mean ± std over seeds."""
    from seamrl.train import load_trainer
    from seamrl.train.seeds import is_seeds_dir, seed_dirs

    results = []
    for run_dir in seed_dirs(args.run_dir) if is_seeds_dir(args.run_dir) else [args.run_dir]:
        trainer = load_trainer(run_dir, overrides=args.set or ())
        trainer.run.eval_episodes = args.episodes
        result = trainer.evaluate()
        norm = result.get("normalized_mean")
        line = f"{run_dir}: return {result['return_mean']:.1f} ± {result['return_std']:.1f} over {args.episodes} episodes"
        line += f" with {', '.join(args.set)}" if args.set else ""
        print(line + (f", normalised score {norm:.1f} ± {result['normalized_std']:.1f}" if norm is not None else ""))
        results.append(result)
    if len(results) > 1:
        key = "normalized_mean" if results[0].get("normalized_mean") is not None else "return_mean"
        values = [r[key] for r in results]
        print(f"{len(results)} seeds: {'normalised score' if key == 'normalized_mean' else 'return'} "
              f"{statistics.fmean(values):.1f} ± {statistics.pstdev(values):.1f} (std over seeds, as summary.json)")
    return 0


def cmd_export(args) -> int:
    from seamrl.policy import export_policy

    path = export_policy(args.run_dir, args.out, args.checkpoint)
    print(f"policy written to {path} (load with seamrl.policy.load_policy)")
    return 0


def cmd_plot(args) -> int:
    if args.run_dirs[0] == "beta" and not Path("beta").is_dir():  # seamrl plot beta RUN_DIR: SSAR's β(s)
        if len(args.run_dirs) != 2:
            raise SeamrlError("`seamrl plot beta` takes exactly one RUN_DIR (a cql_sa or td3bc_sa run).")
        from seamrl.report.beta import plot_beta

        print(plot_beta(args.run_dirs[1], args.out))
        return 0
    if args.run_dirs[0] == "actions" and not Path("actions").is_dir():  # seamrl plot actions RUN_DIR ...: Figure 3
        if len(args.run_dirs) < 2:
            raise SeamrlError("`seamrl plot actions` takes one or more RUN_DIRs (runs trained on a dataset).")
        from seamrl.report.actions import plot_actions

        print(plot_actions(args.run_dirs[1:], args.out))
        return 0
    from seamrl.report.plot import plot_runs

    print(plot_runs(args.run_dirs, args.out, metric=args.metric, online=args.online))
    return 0


def cmd_table(args) -> int:
    from seamrl.report.tables import runs_table

    print(runs_table(args.run_dirs, early=args.early))
    return 0


def cmd_algos(args) -> int:
    from seamrl.report.tables import algo_options, algos_table

    print(algo_options(args.name) if args.name else algos_table())
    return 0


def cmd_demo(args) -> int:
    from seamrl.demo import run_demo

    run_demo(out=args.out, quiet=args.quiet)
    return 0


def cmd_data(args) -> int:
    from seamrl.data import suite
    from seamrl.report.tables import data_export, data_import, data_info, suite_table

    if args.data_cmd == "info":
        path = str(suite.build(args.path)) if args.path in suite.entries() else args.path
        print(data_info(path, args.format))
    elif args.data_cmd == "import":
        print(data_import(args.path, args.format, args.out))
    elif args.data_cmd == "list":
        print(suite.list_table())
    elif args.data_cmd == "build":
        path = suite.build(args.name, args.size, args.seed, force=args.force, progress=True)
        print(f"{args.name}: {path}")
    elif args.data_cmd == "scores":
        scores = suite.write_reference_scores(args.envs, args.episodes)
        for env in args.envs:
            print(f"{env}: random {scores[env]['random']:.1f}, expert {scores[env]['expert']:.1f} ({args.episodes} episodes)")
    elif args.data_cmd == "table":
        text = suite_table(build=args.build)
        if args.out:
            Path(args.out).write_text(text + "\n")
        print(text)
    elif args.data_cmd == "export":
        print(data_export(args.name, args.format, args.out))
    return 0


def cmd_bench(args) -> int:
    from seamrl.bench.suite import Options, run_bench

    def items(text: str | None) -> tuple[str, ...] | None:
        return tuple(x.strip() for x in text.split(",") if x.strip()) if text else None

    try:
        num_envs = tuple(int(n) for n in items(args.num_envs))
        seed_counts = tuple(int(n) for n in items(args.seed_counts))
    except ValueError:
        raise SeamrlError(f"--num-envs and --seed-counts must be comma-separated integers, not '{args.num_envs}' / '{args.seed_counts}'.") from None
    parts = items(args.parts) + (("demo",) if args.demo and "demo" not in args.parts else ())
    options = Options(
        parts=parts, algos=items(args.algos), repeats=args.repeats, updates_per_call=args.updates_per_call,
        transitions=args.transitions, d3rlpy_steps=args.d3rlpy_steps, d3rlpy_warmup=args.d3rlpy_warmup,
        d3rlpy_python=args.d3rlpy_python, d3rlpy_threads=args.d3rlpy_threads, seed_algos=items(args.seed_algos),
        seed_counts=seed_counts, online_algos=items(args.online_algos), online_seeds=args.online_seeds, task=args.task, collect_algo=args.collect_algo,
        num_envs=num_envs, variants=items(args.variants), env_steps=args.env_steps, update_env_steps=args.update_env_steps,
        eval_episodes=args.eval_episodes, out=args.out,
    )
    result = run_bench(options, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(Path(result["paths"][1]).read_text())
    print(f"written to {result['paths'][0]} and {result['paths'][1]}")
    return 0


def cmd_ope(args) -> int:
    from seamrl.ope import evaluate_run

    r = evaluate_run(args.run_dir, args.dataset, args.horizon, args.starts, args.seed, args.max_epochs, args.out, args.policies)
    d = r["dynamics"]
    print(f"{args.run_dir}: AM-Q {r['am_q']:.3f} (horizon {r['horizon']}, {r['starts']} start states, mean rollout length "
          f"{r['mean_rollout_length']:.1f}); dynamics: {d['epochs']} epochs, elites {d['elites']}, {d['fit_seconds']:.0f} s")
    for p in r.get("policies", []):
        print(f"{p['policy']}: AM-Q {p['am_q']:.3f} (mean rollout length {p['mean_rollout_length']:.1f})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="seamrl", description="Online, offline and offline-to-online RL for continuous control.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train an algorithm on a task")
    p.add_argument("algo", nargs="?", help="algorithm name (see `seamrl algos`)")
    p.add_argument("--task", help="Gymnasium id, suite or D4RL dataset name")
    p.add_argument("--setting", choices=["offline", "online", "offline-to-online", "online-offline-online"])
    p.add_argument("--offline-steps", dest="offline_steps", type=int, help="gradient steps of offline phases")
    p.add_argument("--online-steps", dest="online_steps", type=int, help="environment steps of online phases")
    p.add_argument("--num-envs", dest="num_envs", type=int, help="parallel environments for online collection")
    p.add_argument("--eval-every", dest="eval_every", type=int)
    p.add_argument("--eval-episodes", dest="eval_episodes", type=int)
    p.add_argument("--dataset", help="dataset file or directory (D4RL hdf5, Minari, npz)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", help="train several seeds together, e.g. 0,1,2 or 0-3 (offline phases vmapped; RUN_DIR/s<seed> each)")
    p.add_argument("--out", help="run directory (default runs/ALGO-TASK-SETTING-sSEED-TIME)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a run or algorithm option (repeatable)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its last checkpoint; with "
                   "--online-steps / --offline-steps, extend a run (a finished one goes on in its last phase); with "
                   "--setting offline-to-online, fine-tune a finished offline run online")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a run's latest checkpoint")
    p.add_argument("run_dir")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="evaluate with an option changed that leaves the checkpoint's arrays as they are, "
                        "e.g. best_of_n=16 (repeatable; the run is not changed)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="write a run's policy to a small .npz (actor + transforms)")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="output .npz path")
    p.add_argument("--checkpoint", default="latest", help="checkpoint name in RUN_DIR/checkpoints (default latest)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("plot", help="learning curves of one or more runs (PNG); `plot beta RUN_DIR`: SSAR's beta(s); "
                       "`plot actions RUN_DIR ...`: policy actions over dataset actions")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", help="PNG path (default: curves.png in the first run directory)")
    p.add_argument("--metric", choices=("auto", "return", "normalized"), default="auto",
                   help="y axis (auto: normalised score when every run has one, else return)")
    p.add_argument("--online", action="store_true",
                   help="only the online phases, against env steps, starting from the score at the switch "
                        "(a fine-tuning run beside a run from scratch)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("table", help="Markdown table of finished runs (per seed, then mean ± std)")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--early", type=int, help="add the lowest evaluation in the first EARLY steps after the switch (the early drop)")
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("algos", help="list algorithms, their settings and policy classes; with NAME, its options")
    p.add_argument("name", nargs="?", help="an algorithm: its --set options with defaults and sources, and its presets")
    p.set_defaults(func=cmd_algos)

    p = sub.add_parser("demo", help="offline pretraining then online fine-tuning on the embedded dataset")
    p.add_argument("--out", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="throughput: updates (seamrl, d3rlpy, pure JAX), collection, evaluation, demo (JSON + Markdown)")
    p.add_argument("--parts", default="updates,d3rlpy,pure,seeds,online,collect,eval", help="comma-separated: updates,d3rlpy,pure,seeds,online,collect,eval,demo")
    p.add_argument("--demo", action="store_true", help="also time a full `seamrl demo` (minutes): wall clock, peak memory")
    p.add_argument("--algos", help="comma-separated names (default: all)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds; medians are reported")
    p.add_argument("--updates-per-call", dest="updates_per_call", type=int, default=1000, help="seamrl / pure JAX updates per timed call")
    p.add_argument("--transitions", type=int, default=100_000, help="synthetic dataset size")
    p.add_argument("--d3rlpy-steps", dest="d3rlpy_steps", type=int, default=200, help="d3rlpy updates per timed call")
    p.add_argument("--d3rlpy-warmup", dest="d3rlpy_warmup", type=int, default=20)
    p.add_argument("--d3rlpy-python", dest="d3rlpy_python", help="python of the d3rlpy venv (default .venv-d3rlpy/bin/python)")
    p.add_argument("--d3rlpy-threads", dest="d3rlpy_threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--seed-algos", dest="seed_algos", default="iql,td3bc,cql,sac", help="algorithms of the seeds part")
    p.add_argument("--seed-counts", dest="seed_counts", default="1,2,4", help="seeds stacked per measurement (seeds part)")
    p.add_argument("--online-algos", dest="online_algos", default="univr,td3,sac", help="algorithms of the online and online-seeds parts")
    p.add_argument("--online-seeds", dest="online_seeds", type=int, default=3, help="seeds of the online-seeds part")
    p.add_argument("--task", default="Hopper-v5", help="env of the collection and evaluation parts")
    p.add_argument("--collect-algo", dest="collect_algo", default="sac", help="agent whose policy collects")
    p.add_argument("--num-envs", dest="num_envs", default="1,2,4,8")
    p.add_argument("--variants", default="vec,policy,replay,update,update-only", help="collection loop parts: vec,policy,replay,update,update-only")
    p.add_argument("--env-steps", dest="env_steps", type=int, default=2000, help="env steps per collection measurement")
    p.add_argument("--update-env-steps", dest="update_env_steps", type=int, default=500, help="env steps per measurement with updates (update, update-only)")
    p.add_argument("--eval-episodes", dest="eval_episodes", type=int, default=10)
    p.add_argument("--out", help="JSON path (default benchmarks/throughput-<backend>.json); the Markdown table goes next to it")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("ope", help="AM-Q offline policy evaluation of a run's policy with a learned dynamics ensemble")
    p.add_argument("run_dir")
    p.add_argument("--dataset", help="dataset to fit the dynamics and draw start states from (default: the run's)")
    p.add_argument("--horizon", type=int, help="model rollout length (default 1000; AntMaze 150, Kitchen 4, Adroit 100)")
    p.add_argument("--starts", type=int, default=512, help="start states sampled from the dataset")
    p.add_argument("--max-epochs", dest="max_epochs", type=int, help="cap on dynamics training epochs (default: early stopping only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the result as JSON")
    p.add_argument("--policies", nargs="+", metavar="POLICY_NPZ", help="also score these exported policies with the same model and critic")
    p.set_defaults(func=cmd_ope)

    from seamrl.data.suite import LOCOMOTION

    p = sub.add_parser("data", help="inspect and import datasets")
    data_sub = p.add_subparsers(dest="data_cmd", required=True, parser_class=_Parser)
    q = data_sub.add_parser("info", help="sizes, returns and normalised score of a dataset")
    q.add_argument("path")
    q.add_argument("--format", choices=["d4rl", "minari", "npz"])
    q.set_defaults(func=cmd_data)
    q = data_sub.add_parser("list", help="every dataset of the seamrl suite: size, built or not, reference scores")
    q.set_defaults(func=cmd_data)
    q = data_sub.add_parser("build", help="build a suite dataset into $SEAMRL_DATA/suite (deterministic)")
    q.add_argument("name")
    q.add_argument("--size", type=int, help="transitions (default: the suite size)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--force", action="store_true", help="rebuild even if cached")
    q.set_defaults(func=cmd_data)
    q = data_sub.add_parser("scores", help="measure the suite's reference scores (random and expert returns) and store them")
    q.add_argument("envs", nargs="+", choices=list(LOCOMOTION), help="suite env families to measure")
    q.add_argument("--episodes", type=int, default=100)
    q.set_defaults(func=cmd_data)
    q = data_sub.add_parser("table", help="Markdown table of every built suite dataset: size, episodes, returns, normalised score")
    q.add_argument("--build", action="store_true", help="build the datasets that are not cached yet (when their policies ship)")
    q.add_argument("--out", help="also write the table to this file")
    q.set_defaults(func=cmd_data)
    q = data_sub.add_parser("export", help="write a suite dataset as D4RL HDF5, a Minari dataset or .npz")
    q.add_argument("name")
    q.add_argument("--format", choices=["d4rl", "minari", "npz"], required=True)
    q.add_argument("--out", help="output file (d4rl, npz); Minari datasets go to the Minari root")
    q.set_defaults(func=cmd_data)
    q = data_sub.add_parser("import", help="validate a dataset and store it as .npz under $SEAMRL_DATA")
    q.add_argument("path")
    q.add_argument("--format", choices=["d4rl", "minari", "npz"])
    q.add_argument("--out", help="output .npz path")
    q.set_defaults(func=cmd_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _enable_compile_cache()
        return args.func(args)
    except SeamrlError as err:
        print(f"seamrl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(f"seamrl: interrupted; {err or 'resume from the last checkpoint with `seamrl train --resume RUN_DIR`.'}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `seamrl algos univr | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
