"""Offline data: the validated :class:`Dataset` and its file formats (D4RL HDF5, npz, Minari)."""

from seamrl.data.dataset import Dataset
from seamrl.data.formats import load_dataset, save_d4rl_hdf5, save_minari, save_npz

__all__ = ["Dataset", "load_dataset", "save_npz", "save_d4rl_hdf5", "save_minari"]
