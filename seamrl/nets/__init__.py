"""Networks shared by all algorithms."""

from seamrl.nets.mlp import MLP, Ensemble, StateActionValue, StateValue, critic_ensemble
from seamrl.nets.policies import (
    DeterministicPolicy,
    GaussianPolicy,
    TanhGaussianPolicy,
    gaussian_sample,
    normal_log_prob,
    tanh_normal_sample,
)

__all__ = [
    "MLP",
    "Ensemble",
    "StateActionValue",
    "StateValue",
    "critic_ensemble",
    "DeterministicPolicy",
    "GaussianPolicy",
    "TanhGaussianPolicy",
    "gaussian_sample",
    "normal_log_prob",
    "tanh_normal_sample",
]
