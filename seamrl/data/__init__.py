"""Offline data: the validated :class:`Dataset`, its file formats (D4RL HDF5, npz, Minari),
policy roll-outs into datasets, and the device replay (:mod:`seamrl.data.buffer`)."""

from seamrl.data.collect import collect
from seamrl.data.dataset import Dataset
from seamrl.data.formats import load_dataset, save_d4rl_hdf5, save_minari, save_npz

__all__ = ["Dataset", "collect", "load_dataset", "save_npz", "save_d4rl_hdf5", "save_minari"]
