"""Networks shared by all algorithms."""

from seamrl.nets import diffusion
from seamrl.nets.diffusion import ScoreNet
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
    "diffusion",
    "DeterministicPolicy",
    "GaussianPolicy",
    "ScoreNet",
    "TanhGaussianPolicy",
    "gaussian_sample",
    "normal_log_prob",
    "tanh_normal_sample",
]
