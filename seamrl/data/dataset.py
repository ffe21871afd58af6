"""Validated offline datasets of transitions, with episode segmentation and returns.

A :class:`Dataset` holds one row per transition ``(s, a, r, s', terminal, timeout)``.
Construction validates and casts every array (float32 observations, actions and
rewards, bool flags), so code that receives a ``Dataset`` can trust its shapes.

Episode boundaries follow algorithms.md §1.1 item 2: row ``t`` ends an episode if
``terminals[t]`` or ``timeouts[t]``, if ``next_observations[t]`` differs from
``observations[t + 1]`` by more than 1e-6 (L2 norm), if ``t`` is the last row, or,
when ``max_episode_steps`` is set, if the running length within the episode
reaches it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np

from seamrl.errors import ConfigError, DataError

#: Two consecutive rows belong to the same episode when ``||s'_t - s_{t+1}|| <= CONTINUITY_TOL``.
CONTINUITY_TOL = 1e-6
#: Tolerance used by :meth:`Dataset.validate_for` on the action bounds.
ACTION_TOL = 1e-6

_FLOAT_KEYS = ("observations", "actions", "rewards", "next_observations")
_FLAG_KEYS = ("terminals", "timeouts")


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Transitions with validated shapes and dtypes; see the module docstring for episodes.

    ``timeouts`` marks time-limit truncation or the end of a logged episode; it is
    never a termination (the bootstrap mask is ``1 - terminals``).
    """

    observations: np.ndarray  # (N, *obs_shape) float32
    actions: np.ndarray  # (N, act_dim) float32
    rewards: np.ndarray  # (N,) float32
    next_observations: np.ndarray  # (N, *obs_shape) float32
    terminals: np.ndarray  # (N,) bool, true environment termination
    timeouts: np.ndarray  # (N,) bool, truncation / end of logged episode
    infos: dict[str, np.ndarray] = field(default_factory=dict)  # per-row extras (N, ...)
    name: str = ""  # dataset id, e.g. "hopper-medium-v2"
    source: str = ""  # file path, used in error messages
    max_episode_steps: int | None = None  # optional running-length cut for episodes

    def __post_init__(self) -> None:
        for key, value in _validated(self).items():
            object.__setattr__(self, key, value)

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(
        cls,
        observations: Any,
        actions: Any,
        rewards: Any,
        terminals: Any,
        timeouts: Any = None,
        next_observations: Any = None,
        infos: Mapping[str, Any] | None = None,
        *,
        name: str = "",
        source: str = "",
        max_episode_steps: int | None = None,
    ) -> Dataset:
        """Build a dataset from array-likes; missing timeouts are all False.

        When ``next_observations`` is None it is derived from the next row as D4RL's
        ``qlearning_dataset`` does: a row flagged ``timeouts`` (and a non-terminal last
        row) has no successor within its episode and is dropped; a terminal row is kept
        (its next observation is the next row, or itself on the last row, and is never
        bootstrapped from); the row before a dropped one is flagged ``timeouts`` so that
        the episode boundary stays explicit.
        """
        label = source or name or "dataset"
        obs = _as_array(label, "observations", observations)
        n = len(obs)
        if timeouts is None:
            timeouts = np.zeros(n, dtype=bool)
        infos = dict(infos or {})
        if next_observations is None:
            raw = {
                "observations": obs,
                "actions": _as_array(label, "actions", actions),
                "rewards": _as_array(label, "rewards", rewards),
                "terminals": _as_array(label, "terminals", terminals),
                "timeouts": _as_array(label, "timeouts", timeouts),
            }
            raw.update({f"infos/{k}": _as_array(label, f"infos/{k}", v) for k, v in infos.items()})
            _check_rows(label, raw)
            term = _flags(label, "terminals", raw["terminals"])
            tout = _flags(label, "timeouts", raw["timeouts"])
            _check_exclusive(label, term, tout)
            keep, next_idx, new_timeouts = _derive_successors(term, tout)
            if not keep.any():
                raise DataError(
                    f"{label}: no row has a successor within its episode (every row is a timeout or the last row); "
                    "provide 'next_observations' or more rows."
                )
            observations = obs[keep]
            next_observations = obs[next_idx]
            actions, rewards = raw["actions"][keep], raw["rewards"][keep]
            terminals, timeouts = term[keep], new_timeouts
            infos = {k: raw[f"infos/{k}"][keep] for k in infos}
        return cls(
            observations=observations,
            actions=actions,
            rewards=rewards,
            next_observations=next_observations,
            terminals=terminals,
            timeouts=timeouts,
            infos=infos,
            name=name,
            source=source,
            max_episode_steps=max_episode_steps,
        )

    # ------------------------------------------------------------------ basic shape

    def __len__(self) -> int:
        return len(self.rewards)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, source={self.source!r}, transitions={len(self)}, "
            f"obs_shape={self.obs_shape}, action_dim={self.action_dim})"
        )

    @property
    def label(self) -> str:
        """What error messages call this dataset: its source file, else its name."""
        return self.source or self.name or "dataset"

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return tuple(self.observations.shape[1:])

    @property
    def obs_dim(self) -> int:
        return int(np.prod(self.obs_shape))

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[1])

    def validate_for(
        self,
        obs_shape: Sequence[int],
        action_low: Any,
        action_high: Any,
    ) -> Dataset:
        """Refuse data that does not fit an environment's spaces; returns ``self``.

        Observation shapes must match exactly; actions must lie within
        ``[low - 1e-6, high + 1e-6]``. The message names the first offending row.
        """
        expected = tuple(int(d) for d in obs_shape)
        if self.obs_shape != expected:
            raise DataError(
                f"{self.label}: key 'observations' has shape {self.obs_shape} per row but the "
                f"environment expects {expected}."
            )
        for bound in (action_low, action_high):
            if np.shape(bound) not in ((), (self.action_dim,)):
                raise DataError(
                    f"{self.label}: key 'actions' has {self.action_dim} dimensions per row but the "
                    f"environment's action space has shape {np.shape(bound)}."
                )
        low = np.broadcast_to(np.asarray(action_low, dtype=np.float64), (self.action_dim,))
        high = np.broadcast_to(np.asarray(action_high, dtype=np.float64), (self.action_dim,))
        bad = (self.actions < low - ACTION_TOL) | (self.actions > high + ACTION_TOL)
        if bad.any():
            row, dim = (int(i) for i in np.argwhere(bad)[0])
            value = float(self.actions[row, dim])
            raise DataError(
                f"{self.label}: key 'actions' has value {value:.6g} at row {row}, dimension {dim}, "
                f"outside the action space [{low[dim]:.6g}, {high[dim]:.6g}]."
            )
        return self

    # ------------------------------------------------------------------ episodes

    @cached_property
    def episode_ends(self) -> np.ndarray:
        """Bool (N,): row t is the last transition of its episode (module docstring)."""
        n = len(self)
        ends = self.terminals | self.timeouts
        chunk = 65536
        for lo in range(0, n - 1, chunk):
            hi = min(lo + chunk, n - 1)
            gap = (self.next_observations[lo:hi] - self.observations[lo + 1 : hi + 1]).reshape(hi - lo, -1)
            ends[lo:hi] |= np.sqrt(np.sum(np.square(gap, dtype=np.float64), axis=1)) > CONTINUITY_TOL
        ends[-1] = True
        if self.max_episode_steps is not None:
            starts = np.concatenate([[True], ends[:-1]])
            seg = np.cumsum(starts) - 1
            pos = np.arange(n) - np.flatnonzero(starts)[seg]
            ends |= (pos + 1) % self.max_episode_steps == 0
        ends.setflags(write=False)
        return ends

    @cached_property
    def episode_starts(self) -> np.ndarray:
        """Bool (N,): row t is the first transition of its episode."""
        starts = np.concatenate([[True], self.episode_ends[:-1]])
        starts.setflags(write=False)
        return starts

    @cached_property
    def episode_ids(self) -> np.ndarray:
        """Int (N,): episode index of every row, 0 .. num_episodes - 1 in row order."""
        ids = np.cumsum(self.episode_starts, dtype=np.int64) - 1
        ids.setflags(write=False)
        return ids

    @property
    def num_episodes(self) -> int:
        return int(self.episode_ids[-1]) + 1

    def episode_lengths(self) -> np.ndarray:
        """Int (E,): number of transitions of each episode."""
        return np.bincount(self.episode_ids, minlength=self.num_episodes)

    def episode_returns(self) -> np.ndarray:
        """Float64 (E,): undiscounted sum of rewards of each episode."""
        return np.bincount(self.episode_ids, weights=self.rewards.astype(np.float64), minlength=self.num_episodes)

    def returns_to_go(self, gamma: float) -> np.ndarray:
        """Float32 (N,): ``sum_{k>=t} gamma^(k-t) r_k`` over the rest of row t's episode.

        The sum stops at the episode end whatever ended it, so at a timeout (or any
        other non-terminal end) the return is truncated rather than bootstrapped,
        as CORL's ``get_return_to_go`` does.
        """
        if not 0.0 <= gamma <= 1.0:
            raise ConfigError(f"returns_to_go: gamma={gamma} is invalid; expected a value in [0, 1].")
        # Linear recurrence x_t = r_t + a_t x_{t+1}, with a_t = gamma inside an episode and 0
        # at its end, solved by a log-depth (Hillis-Steele) scan: after each pass x_t covers
        # twice as many rows and a_t is the discount linking it to the first row not covered.
        rtg = self.rewards.astype(np.float64)
        link = np.where(self.episode_ends, 0.0, float(gamma))
        shift = 1
        while shift < len(rtg) and link.any():
            rtg[:-shift] = rtg[:-shift] + link[:-shift] * rtg[shift:]
            link[:-shift] = link[:-shift] * link[shift:]
            shift *= 2
        return rtg.astype(np.float32)

    def reward_range(self) -> tuple[float, float]:
        """(min, max) undiscounted episode return, for the ×1000/(Rmax−Rmin) reward transform."""
        returns = self.episode_returns()
        return float(returns.min()), float(returns.max())

    # ------------------------------------------------------------------ subsets

    def select(self, index: Any) -> Dataset:
        """Rows picked by an int index array, a bool mask of length N, or a slice."""
        index = _row_index(self, index)
        return replace(
            self,
            observations=self.observations[index],
            actions=self.actions[index],
            rewards=self.rewards[index],
            next_observations=self.next_observations[index],
            terminals=self.terminals[index],
            timeouts=self.timeouts[index],
            infos={k: v[index] for k, v in self.infos.items()},
        )

    def top_episodes(self, fraction: float | None = None, k: int | None = None) -> Dataset:
        """Keep the best episodes by undiscounted return (10%BC, SSAR ``part``).

        Give exactly one of ``fraction`` (keeps ``ceil(fraction * E)`` episodes) or
        ``k``; at least one episode is kept, ties go to the earlier episode, rows stay
        in their original order. Non-terminal episode ends are flagged ``timeouts`` in
        the result so that the kept episodes stay separate.
        """
        if (fraction is None) == (k is None):
            raise ConfigError("top_episodes: give exactly one of fraction or k.")
        returns = self.episode_returns()
        if fraction is not None:
            if not 0.0 < fraction <= 1.0:
                raise ConfigError(f"top_episodes: fraction={fraction} is invalid; expected a value in (0, 1].")
            count = math.ceil(round(fraction * len(returns), 9))
        else:
            if int(k) != k or k < 1:
                raise ConfigError(f"top_episodes: k={k} is invalid; expected a positive integer.")
            count = int(k)
        count = max(1, min(count, len(returns)))
        keep = np.zeros(len(returns), dtype=bool)
        keep[np.argsort(-returns, kind="stable")[:count]] = True
        flagged = replace(self, timeouts=self.timeouts | (self.episode_ends & ~self.terminals))
        return flagged.select(keep[self.episode_ids])

    @staticmethod
    def concat(datasets: Sequence[Dataset]) -> Dataset:
        """Stack datasets row-wise; each part's last row is flagged ``timeouts`` unless terminal.

        Only the ``infos`` keys present with the same row shape in every part are kept; distinct names and
        sources are joined with '+'.
        """
        datasets = list(datasets)
        if not datasets:
            raise DataError("Dataset.concat: the list of datasets is empty; expected at least one dataset.")
        first = datasets[0]
        for ds in datasets[1:]:
            if ds.obs_shape != first.obs_shape or ds.action_dim != first.action_dim:
                raise DataError(
                    f"{ds.label}: observations {ds.obs_shape} / actions ({ds.action_dim},) per row do not match "
                    f"{first.label}'s {first.obs_shape} / ({first.action_dim},); datasets must share their spaces to be concatenated."
                )
        keys = [
            k for k in first.infos
            if all(k in ds.infos and ds.infos[k].shape[1:] == first.infos[k].shape[1:] for ds in datasets)
        ]
        timeouts = []
        for i, ds in enumerate(datasets):
            t = ds.timeouts.copy()
            if i < len(datasets) - 1:
                t[-1] |= not ds.terminals[-1]
            timeouts.append(t)

        steps = {ds.max_episode_steps for ds in datasets}
        return Dataset(
            observations=np.concatenate([ds.observations for ds in datasets]),
            actions=np.concatenate([ds.actions for ds in datasets]),
            rewards=np.concatenate([ds.rewards for ds in datasets]),
            next_observations=np.concatenate([ds.next_observations for ds in datasets]),
            terminals=np.concatenate([ds.terminals for ds in datasets]),
            timeouts=np.concatenate(timeouts),
            infos={k: np.concatenate([ds.infos[k] for ds in datasets]) for k in keys},
            name=_joined(ds.name for ds in datasets),
            source=_joined(ds.source for ds in datasets),
            max_episode_steps=steps.pop() if len(steps) == 1 else None,
        )

    # ------------------------------------------------------------------ reporting

    def summary(self) -> dict[str, Any]:
        """Plain-Python statistics for ``seamrl data info``."""
        returns = self.episode_returns()
        lengths = self.episode_lengths()
        return {
            "name": self.name,
            "source": self.source,
            "transitions": len(self),
            "episodes": int(len(returns)),
            "obs_shape": list(self.obs_shape),
            "obs_dim": self.obs_dim,
            "action_dim": self.action_dim,
            "return_mean": float(returns.mean()),
            "return_std": float(returns.std()),
            "return_min": float(returns.min()),
            "return_max": float(returns.max()),
            "episode_length_mean": float(lengths.mean()),
            "terminals": int(self.terminals.sum()),
            "timeouts": int(self.timeouts.sum()),
            "info_keys": sorted(self.infos),
        }


# ---------------------------------------------------------------------- validation


def _as_array(label: str, key: str, value: Any) -> np.ndarray:
    """np.asarray with a one-sentence error for ragged, non-numeric or scalar input."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        raise DataError(f"{label}: key '{key}' is ragged or not numeric; expected a numeric array with one row per transition.") from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DataError(f"{label}: key '{key}' has dtype {arr.dtype}; expected a numeric array.")
    if arr.ndim == 0:
        raise DataError(f"{label}: key '{key}' is a scalar; expected an array with one row per transition.")
    return arr


def _check_rows(label: str, arrays: Mapping[str, np.ndarray]) -> int:
    """All arrays have as many rows as ``observations``, and there is at least one."""
    n = len(arrays["observations"])
    if n == 0:
        raise DataError(f"{label}: the dataset is empty (key 'observations' has 0 rows); at least one transition is required.")
    for key, arr in arrays.items():
        if len(arr) != n:
            raise DataError(
                f"{label}: key '{key}' has {len(arr)} rows but 'observations' has {n}; every array must have one row per transition."
            )
    return n


def _column(label: str, key: str, arr: np.ndarray) -> np.ndarray:
    """Accept (N,) or (N, 1); return (N,)."""
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(f"{label}: key '{key}' has shape {arr.shape}; expected ({len(arr)},) or ({len(arr)}, 1).")
    return arr


def _finite_float32(label: str, key: str, arr: np.ndarray) -> np.ndarray:
    """Cast to float32, refusing NaN/inf and values that overflow float32."""
    _check_finite(label, key, arr, arr, "a non-finite value")
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32, copy=False)
    _check_finite(label, key, out, arr, "a value that overflows float32")
    return out


def _check_finite(label: str, key: str, arr: np.ndarray, original: np.ndarray, what: str) -> None:
    flat = arr.reshape(len(arr), -1)
    finite = np.isfinite(flat)
    if not finite.all():
        row, col = (int(i) for i in np.argwhere(~finite)[0])
        value = original.reshape(len(original), -1)[row, col]
        raise DataError(f"{label}: key '{key}' has {what} ({value}) at row {row}; every value must be finite.")


def _flags(label: str, key: str, arr: np.ndarray) -> np.ndarray:
    """Cast a 0/1 column to bool, refusing any other value."""
    arr = _column(label, key, arr)
    if arr.dtype == np.bool_:
        return arr
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{label}: key '{key}' has value {arr[row]} at row {row}; expected only 0/1 (or booleans).")
    return arr.astype(bool)


def _check_exclusive(label: str, terminals: np.ndarray, timeouts: np.ndarray) -> None:
    both = terminals & timeouts
    if both.any():
        row = int(np.argmax(both))
        raise DataError(
            f"{label}: keys 'terminals' and 'timeouts' are both set at row {row}; a transition is either a "
            "true termination or a time-limit truncation, not both."
        )


def _validated(ds: Dataset) -> dict[str, Any]:
    """Checked and cast field values of ``ds`` (see :class:`Dataset`)."""
    label = ds.source or ds.name or "dataset"
    arrays = {key: _as_array(label, key, getattr(ds, key)) for key in _FLOAT_KEYS + _FLAG_KEYS}
    infos = dict(ds.infos or {})
    for key, value in infos.items():
        if not isinstance(key, str):
            raise DataError(f"{label}: infos key {key!r} is not a string; expected string keys.")
        arrays[f"infos/{key}"] = _as_array(label, f"infos/{key}", value)
    for key in ("observations", "next_observations", "actions"):
        if arrays[key].ndim == 1:
            arrays[key] = arrays[key][:, None]
    _check_rows(label, arrays)
    out: dict[str, Any] = {}
    if arrays["actions"].ndim != 2:
        raise DataError(f"{label}: key 'actions' has shape {arrays['actions'].shape}; expected (N, action_dim).")
    if arrays["next_observations"].shape != arrays["observations"].shape:
        raise DataError(
            f"{label}: key 'next_observations' has shape {arrays['next_observations'].shape} but 'observations' has "
            f"{arrays['observations'].shape}; both must have the same shape."
        )
    arrays["rewards"] = _column(label, "rewards", arrays["rewards"])
    for key in _FLOAT_KEYS:
        out[key] = _finite_float32(label, key, arrays[key])
    for key in _FLAG_KEYS:
        out[key] = _flags(label, key, arrays[key])
    _check_exclusive(label, out["terminals"], out["timeouts"])
    out["infos"] = {key: arrays[f"infos/{key}"] for key in infos}
    steps = ds.max_episode_steps
    if steps is not None and (int(steps) != steps or steps < 1):
        raise ConfigError(f"{label}: max_episode_steps={steps} is invalid; expected a positive integer or None.")
    out["max_episode_steps"] = None if steps is None else int(steps)
    out["name"], out["source"] = str(ds.name), str(ds.source)
    return out


def _derive_successors(terminals: np.ndarray, timeouts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows kept, their successor row, and their timeouts, for next-row derivation."""
    n = len(terminals)
    has_next = np.arange(n) < n - 1
    keep = terminals | (~timeouts & has_next)
    successor = np.where(has_next, np.arange(n) + 1, np.arange(n))
    # A kept non-terminal row whose successor is dropped now ends its episode.
    next_dropped = np.zeros(n, dtype=bool)
    next_dropped[:-1] = ~keep[1:]
    new_timeouts = keep & ~terminals & next_dropped
    return keep, successor[keep], new_timeouts[keep]


def _joined(values: Any) -> str:
    """Distinct non-empty values joined by '+' (a single value stays as it is)."""
    return "+".join(dict.fromkeys(v for v in values if v))


def _row_index(ds: Dataset, index: Any) -> Any:
    """Validate a row selector (slice, int array, bool mask)."""
    if isinstance(index, slice):
        return index
    arr = np.asarray(index)
    if arr.dtype == np.bool_:
        if arr.shape != (len(ds),):
            raise DataError(f"{ds.label}: selection mask has shape {arr.shape}; expected ({len(ds)},).")
        return arr
    if not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 1:
        raise DataError(f"{ds.label}: row selection has dtype {arr.dtype} and shape {arr.shape}; expected a 1-D integer index, a bool mask or a slice.")
    if arr.size and (arr.max() >= len(ds) or arr.min() < -len(ds)):
        raise DataError(f"{ds.label}: row selection contains index {int(arr.max() if arr.max() >= len(ds) else arr.min())}; the dataset has {len(ds)} rows.")
    return arr
