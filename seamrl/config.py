"""Run configuration: the schedule and loop settings of one run, the agent's config, and
``--set key=value`` overrides, with a JSON round trip.

Resolution order of an agent config: the algorithm's ``Config`` defaults (the paper's) →
its ``PRESETS`` for the task family (AntMaze, Adroit, ...) → ``--set`` overrides.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from seamrl.errors import ConfigError

SETTINGS = ("offline", "online", "offline-to-online", "online-offline-online")
REPLAY_INIT = ("all", "part", "half", "none")
LOCKSTEP = ("auto", "on", "off")


@dataclass
class RunConfig:
    """Everything about a run that is not the algorithm's own hyperparameters."""

    algo: str
    task: str
    setting: str = "offline"
    seed: int = 0
    dataset: str | None = None  # path to a dataset file/dir; default: the task's own dataset
    offline_steps: int = 1_000_000  # gradient steps
    online_steps: int = 1_000_000  # environment steps
    eval_every: int = 5000  # gradient steps (offline) / env steps (online)
    eval_episodes: int = 10
    updates_per_call: int = 1000  # K gradient steps per host call (lax.scan) in offline phases
    update_every: int = 1  # online: collect this many env steps, then run update_every·utd·num_envs updates
    num_envs: int = 1  # online collection envs (Gymnasium sync vector env when > 1)
    buffer_size: int = 1_000_000  # online replay capacity
    replay_init: str = "all"  # offline→online: all | part (top episodes) | half (50/50 batches) | none
    replay_top_episodes: int = 50  # episodes kept by replay_init=part (SSAR)
    offline_ratio: float | None = None  # fraction of each batch from the dataset; None = uniform over the union
    warmup_steps: int = 0  # offline→online: env steps with the pretrained policy before updates resume (SSAR: 5000)
    checkpoint_every: int = 50_000  # steps of the current phase between resumable checkpoints
    save_policy_every: int = 0  # also keep a small policy snapshot every N steps (0: off)
    # online-offline-online (Uni-O4 §5.2): the phases from env_change_phase on run in a changed MuJoCo env,
    # and the offline phase learns from log_steps env steps logged there with the stage-1 policy
    env_friction: float = 1.0  # friction coefficients × factor (seamrl/envs/physics.py)
    env_mass_scale: float = 1.0  # body masses and inertias × factor
    env_change_phase: int = 1  # index of the first phase in the changed env
    log_steps: int = 100_000  # 0: the offline phase after an online one uses the task's / --dataset data
    # --seeds: phases where the seeds advance together (vmapped, seamrl/train/seeds.py). auto: offline phases, and online
    # phases on an accelerator (on CPU online lockstep measured 0.85-1.05x seed after seed: seamrl bench --parts online-seeds);
    # on: offline and online phases; off: none, every seed exactly as its single-seed run
    lockstep: str = "auto"
    tensorboard: bool = False  # also write TensorBoard event files to RUN_DIR/tensorboard (needs tensorboardX)
    out: str | None = None
    agent: dict[str, Any] = field(default_factory=dict)  # overrides of the algorithm's Config

    def __post_init__(self):
        from seamrl.algos import key

        self.algo = key(self.algo)  # "TD3+BC" → "td3bc"; a user's algorithm file → its absolute path

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def task_family(task: str) -> str:
    """Coarse task family used to pick per-domain presets."""
    t = task.lower()
    for family, keys in {
        "antmaze": ("antmaze",),
        "kitchen": ("kitchen",),
        "adroit": ("pen-", "door-", "hammer-", "relocate-", "adroit"),
        "maze": ("maze2d", "pointmaze"),
    }.items():
        if any(k in t for k in keys):
            return family
    return "locomotion"


def parse_value(text: str, annotation: Any, key: str) -> Any:
    """Convert ``text`` to the type of a dataclass field; one-sentence error when it does not fit."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if text.lower() in ("none", "null") and (annotation is type(None) or type(None) in typing.get_args(annotation)):
        return None
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        annotation, origin = args[0], typing.get_origin(args[0])
    try:
        if annotation is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if annotation is int:
            return int(float(text)) if float(text).is_integer() else int(text)
        if annotation is float:
            return float(text)
        if origin is tuple:
            inner = typing.get_args(annotation)[0]
            return tuple(parse_value(t, inner, key) for t in text.strip("()[] ").split(",") if t.strip())
        if origin is dict or annotation is dict:
            return json.loads(text)
        return text
    except (ValueError, json.JSONDecodeError):
        name = getattr(annotation, "__name__", str(annotation))
        raise ConfigError(f"Option '{key}={text}' is not a valid {name}.") from None


def _field_types(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def apply_overrides(run: RunConfig, agent_config_cls, pairs: list[str]) -> RunConfig:
    """Apply ``key=value`` strings: run fields go to ``run``, the rest to ``run.agent``."""
    run_types = {k: v for k, v in _field_types(RunConfig).items() if k not in ("agent", "algo", "task")}
    agent_types = _field_types(agent_config_cls)
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"Option '{pair}' must look like key=value.")
        key, value = (s.strip() for s in pair.split("=", 1))
        if key in agent_types:
            run.agent[key] = parse_value(value, agent_types[key], key)
        elif key in run_types:
            setattr(run, key, parse_value(value, run_types[key], key))
        else:
            close = difflib.get_close_matches(key, list(agent_types) + list(run_types), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else "."
            raise ConfigError(f"Unknown option '{key}' for algorithm '{run.algo}'{hint}")
    validate(run)
    return run


def validate(run: RunConfig) -> None:
    if run.setting not in SETTINGS:
        raise ConfigError(f"Setting '{run.setting}' is unknown; expected one of {', '.join(SETTINGS)}.")
    if run.replay_init not in REPLAY_INIT:
        raise ConfigError(f"replay_init '{run.replay_init}' is unknown; expected one of {', '.join(REPLAY_INIT)}.")
    if run.lockstep not in LOCKSTEP:
        raise ConfigError(f"lockstep '{run.lockstep}' is unknown; expected one of {', '.join(LOCKSTEP)}.")
    for name in ("offline_steps", "online_steps", "eval_every", "eval_episodes", "updates_per_call", "update_every", "num_envs"):
        if getattr(run, name) < (0 if name.endswith("steps") else 1):
            raise ConfigError(f"Option '{name}' is {getattr(run, name)}; it must be a positive integer.")
    if run.log_steps < 0 or run.env_change_phase < 0:
        raise ConfigError("log_steps and env_change_phase must be non-negative integers.")
    if not (run.env_friction > 0 and run.env_mass_scale > 0):
        raise ConfigError(f"env_friction={run.env_friction} and env_mass_scale={run.env_mass_scale} must be positive factors.")
    if run.offline_ratio is not None and not 0.0 <= run.offline_ratio <= 1.0:
        raise ConfigError(f"offline_ratio is {run.offline_ratio}; it must lie in [0, 1].")


def agent_config(algo_module, run: RunConfig):
    """The algorithm's Config: family presets, then the module's optional per-task values
    (``task_presets(task, setting) -> dict``, e.g. UNIVR's Table 3 / Table 5 rows), then the run's
    ``--set`` overrides."""
    per_task = getattr(algo_module, "task_presets", None)
    values = {**getattr(algo_module, "PRESETS", {}).get(task_family(run.task), {}), **(per_task(run.task, run.setting) if per_task else {}),
              **run.agent}
    try:
        return algo_module.Config(**values)
    except TypeError as err:
        raise ConfigError(f"Invalid options for '{run.algo}': {err}.") from None
