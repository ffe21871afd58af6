import jax
import jax.numpy as jnp
import numpy as np

from seamrl.data import buffer


def _rows(start, n):
    return {"observations": np.arange(start, start + n, dtype=np.float32)[:, None], "rewards": np.zeros(n, np.float32)}


def test_add_wraps_around_and_keeps_insertion_order():
    s = buffer.empty_storage({"observations": (1,), "rewards": ()}, capacity=5)
    s = buffer.add(s, _rows(0, 3))
    assert int(s.size) == 3 and int(s.ptr) == 3
    s = buffer.add(s, _rows(3, 4))  # 7 rows into capacity 5: rows 0, 1 overwritten
    assert int(s.size) == 5 and int(s.ptr) == 2
    np.testing.assert_array_equal(np.asarray(s.arrays["observations"][:, 0]), [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buffer.to_numpy(s)["observations"][:, 0], [2, 3, 4, 5, 6])


def test_union_sampling_is_proportional_to_sizes():
    off = buffer.storage_from_arrays(_rows(0, 300))
    on = buffer.storage_from_arrays(_rows(1000, 100), capacity=1000)
    batch = jax.jit(lambda k: buffer.sample(k, off, on, 4000, None))(jax.random.PRNGKey(0))
    frac_online = float((batch["observations"] >= 1000).mean())
    assert abs(frac_online - 0.25) < 0.03
    assert float(batch["observations"].max()) < 1100  # never beyond the valid online rows


def test_ratio_sampling_and_empty_online_falls_back_to_offline():
    off = buffer.storage_from_arrays(_rows(0, 50))
    on = buffer.empty_storage({"observations": (1,), "rewards": ()}, 100)
    batch = buffer.sample(jax.random.PRNGKey(1), off, on, 64, 0.5)
    assert float(batch["observations"].max()) < 50  # online empty: everything from the dataset
    on = buffer.add(on, _rows(1000, 10))
    batch = buffer.sample(jax.random.PRNGKey(2), off, on, 64, 0.25)
    from_off = np.asarray(batch["observations"][:, 0] < 1000)
    np.testing.assert_array_equal(from_off, np.arange(64) < 16)


def test_ratio_zero_online_only():
    off = buffer.storage_from_arrays(_rows(0, 50))
    on = buffer.storage_from_arrays(_rows(1000, 10), capacity=20)
    batch = buffer.sample(jax.random.PRNGKey(3), off, on, 32, 0.0)
    assert bool(jnp.all(batch["observations"] >= 1000))
