"""Device-resident replay storage and the mixing sampler.

A :class:`Storage` is a dict of fixed-capacity arrays on the accelerator plus ``size`` and
``ptr``; transitions are written with a jitted, buffer-donating scatter and batches are
sampled *inside* the jitted training step, so no batch ever crosses host ↔ device.

The replay of a run is two storages, ``offline`` (the dataset, or a part of it) and
``online`` (environment transitions), and one sampler:

* ``offline_ratio=None`` — one buffer: sample uniformly over the union (IQL, AWAC, CQL, IVR
  fine-tuning: "a buffer pre-filled with the dataset");
* ``offline_ratio=ρ`` — symmetric sampling: ``round(ρ·B)`` rows from the dataset and the rest
  from online data (RLPD, Cal-QL, ReBRAC; ρ = 0.5). While the online storage is empty
  every row comes from the dataset.
"""

from __future__ import annotations

from functools import partial

import flax.struct as struct
import jax
import jax.numpy as jnp
import numpy as np

TRANSITION_KEYS = ("observations", "actions", "rewards", "next_observations", "masks")


@struct.dataclass
class Storage:
    arrays: dict[str, jnp.ndarray]
    size: jnp.ndarray  # int32 scalar: number of valid rows
    ptr: jnp.ndarray  # int32 scalar: next row to write (ring buffer)

    @property
    def capacity(self) -> int:
        return next(iter(self.arrays.values())).shape[0]


def storage_from_arrays(arrays: dict[str, np.ndarray], capacity: int | None = None) -> Storage:
    """A storage holding ``arrays`` (all with the same number of rows), with room for ``capacity`` rows."""
    n = len(next(iter(arrays.values())))
    capacity = max(n, capacity or n, 1)
    out = {}
    for key, value in arrays.items():
        value = np.asarray(value, dtype=np.float32)
        full = np.zeros((capacity, *value.shape[1:]), np.float32)
        full[:n] = value
        out[key] = jnp.asarray(full)
    return Storage(out, jnp.asarray(n, jnp.int32), jnp.asarray(n % capacity, jnp.int32))


def empty_storage(shapes: dict[str, tuple[int, ...]], capacity: int) -> Storage:
    """An empty storage with one array of shape ``(capacity, *shape)`` per key."""
    arrays = {k: jnp.zeros((capacity, *shape), jnp.float32) for k, shape in shapes.items()}
    return Storage(arrays, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def _write(storage: Storage, rows: dict[str, jnp.ndarray]) -> Storage:
    n = next(iter(rows.values())).shape[0]
    capacity = next(iter(storage.arrays.values())).shape[0]
    idx = (storage.ptr + jnp.arange(n)) % capacity
    arrays = {k: v.at[idx].set(jnp.asarray(rows[k], v.dtype)) for k, v in storage.arrays.items()}
    return Storage(arrays, jnp.minimum(storage.size + n, capacity), (storage.ptr + n) % capacity)


@partial(jax.jit, donate_argnums=0)
def add(storage: Storage, rows: dict[str, jnp.ndarray]) -> Storage:
    """Write ``n`` rows at the ring pointer (overwriting the oldest once full)."""
    return _write(storage, rows)


@partial(jax.jit, donate_argnums=0)
def add_each(storages: Storage, rows: dict[str, jnp.ndarray]) -> Storage:
    """:func:`add` to each storage of a stacked one (seeds in lockstep), ``rows`` stacked the same way."""
    return jax.vmap(_write)(storages, rows)


def set_rows(storage: Storage, rows: np.ndarray, columns: dict[str, np.ndarray], seed: int | None = None) -> Storage:
    """``storage`` with ``columns[k]`` written at ``rows`` of array ``k`` (of seed ``seed``'s slice of a stacked storage)."""
    index = rows if seed is None else (seed, rows)
    arrays = {**storage.arrays, **{k: storage.arrays[k].at[index].set(jnp.asarray(v, jnp.float32)) for k, v in columns.items()}}
    return storage.replace(arrays=arrays)


def sample(key: jax.Array, offline: Storage, online: Storage, batch_size: int, offline_ratio: float | None) -> dict:
    """Sample a batch from the two storages (jittable; see the module docstring for the rule)."""
    k_src, k_off, k_on = jax.random.split(key, 3)
    n_off, n_on = offline.size, online.size
    if offline_ratio is None:
        total = jnp.maximum(n_off + n_on, 1)
        from_offline = jax.random.randint(k_src, (batch_size,), 0, total) < n_off
    else:
        first = jnp.arange(batch_size) < int(round(offline_ratio * batch_size))
        from_offline = (first | (n_on == 0)) & (n_off > 0)
    i_off = jax.random.randint(k_off, (batch_size,), 0, jnp.maximum(n_off, 1))
    if offline_ratio == 1.0:  # offline phases: one gather (the same rows the general rule picks when n_off > 0)
        return {k: v[i_off] for k, v in offline.arrays.items()}
    i_on = jax.random.randint(k_on, (batch_size,), 0, jnp.maximum(n_on, 1))
    batch = {}
    for k in offline.arrays:
        a, b = offline.arrays[k][i_off], online.arrays[k][i_on]
        mask = from_offline.reshape((-1,) + (1,) * (a.ndim - 1))
        batch[k] = jnp.where(mask, a, b)
    return batch


def to_numpy(storage: Storage) -> dict[str, np.ndarray]:
    """Valid rows in insertion order (oldest first), for checkpoints and export."""
    size, ptr, cap = int(storage.size), int(storage.ptr), storage.capacity
    order = np.arange(size) if size < cap else (np.arange(cap) + ptr) % cap
    return {k: np.asarray(v)[order] for k, v in storage.arrays.items()}
