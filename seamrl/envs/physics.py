"""A changed environment: scaled friction and masses of a MuJoCo model.

Used for the later stages of the online→offline→online pipeline (Uni-O4 §5.2: a policy trained in
one world is fine-tuned offline on logs from a different one, then online there), and by
``envs.make(task, friction=0.8, mass_scale=1.2)`` / ``--set env_friction=0.8 env_mass_scale=1.2``.

* ``friction``: every geom's friction coefficients (sliding, torsional, rolling) × factor;
* ``mass_scale``: every body's mass and rotational inertia × factor (a uniform change of density,
  so the bodies keep their shapes and centres of mass).

The model is changed in place once, when the wrapper is built; each env owns its model.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from seamrl.errors import EnvError


class ScaledPhysics(gym.Wrapper):
    """Scale a MuJoCo env's friction and body masses by constant factors."""

    def __init__(self, env: gym.Env, friction: float = 1.0, mass_scale: float = 1.0, task: str = "env"):
        super().__init__(env)
        for name, value in (("friction", friction), ("mass_scale", mass_scale)):
            if not (np.isfinite(value) and value > 0):
                raise EnvError(f"{name}={value!r} is invalid; expected a positive factor.")
        model = getattr(env.unwrapped, "model", None)
        if model is None or not hasattr(model, "geom_friction"):
            raise EnvError(f"Task {task!r} is not a MuJoCo environment; friction and mass changes need a MuJoCo model.")
        model.geom_friction[:] *= friction
        model.body_mass[:] *= mass_scale
        model.body_inertia[:] *= mass_scale
        self.friction, self.mass_scale = float(friction), float(mass_scale)
