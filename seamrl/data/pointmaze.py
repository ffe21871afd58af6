"""D4RL maze2d-style datasets collected on Gymnasium-Robotics PointMaze.

What D4RL did (``scripts/generation/generate_maze2d_datasets.py`` with
``d4rl/pointmaze/waypoint_controller.py``, then ``scripts/generation/relabel_maze2d_rewards.py``):

- A waypoint controller plans a shortest path over the maze's grid cells (Q-iteration) from the
  ball's cell to a target cell drawn uniformly among the free cells, and follows the cell centres
  with a PD law ``a = clip(10 (w - p) - 1 v, -1, 1)``; with ``--noisy`` it adds N(0, 0.5²) to
  the action before clipping.
- When the target is reached (within 0.1), or after the env's ``max_episode_steps`` (maze2d
  v1: 300 / 600 / 800 for umaze / medium / large), a new random target is drawn and the ball
  keeps going: one long stream, never reset, never terminated.
- Rewards were relabelled afterwards against the *evaluation* env's fixed goal (not the
  controller's targets): sparse ``||p - g|| <= 0.5``, dense ``exp(-||p - g||)``. The targets
  the controller chased were kept in ``infos/goal``.

What :func:`collect_pointmaze` does, on the env that ``seamrl.envs.make("maze2d-*-v1")`` builds
(same maze map, same MuJoCo model, the env's own ``PointEnv.step``):

- The same controller idea, written afresh: a breadth-first search per goal cell gives every
  free cell the next cell on a shortest path (4-connected, as D4RL's grid); the waypoint is the
  centre of that next cell, or the goal itself once the ball is in the goal cell; D4RL's gains
  (10, -1) and reach radius (0.1); action noise N(0, ``noise_std``²) with D4RL's 0.5 by default.
- Episodes are cut every ``max_episode_steps`` of the registered task (``timeouts=True``); the
  physics is not reset at a cut (as D4RL), but the controller gets a new target (as D4RL) and
  the evaluation goal is redrawn the way the evaluation env draws it at reset (goal-cell centre
  plus uniform noise of ±0.25 per axis).
- ``goal="task"`` (default, D4RL's labelling): ``desired_goal`` is the evaluation goal, constant
  within an episode, and rewards are the evaluation env's reward for that goal; the
  controller's own targets go to ``infos["goal"]``. ``goal="controller"``: ``desired_goal`` is
  the controller's current target and rewards are computed for it (a goal-conditioned dataset).
  At a target switch the row keeps the old goal in ``next_observations`` (so every row is a valid
  transition of the fixed-goal evaluation MDP for its goal) and the next row starts with the new
  goal; :class:`Dataset`'s continuity rule therefore also ends an episode at each switch.
- Rewards come from the env's own ``compute_reward`` on the position *after* the step, so they
  equal what the registered maze2d task returns: sparse uses the env's 0.45 radius (D4RL relabelled
  with 0.5 on the position before the step), dense ``exp(-distance)``.
- Observations are the flattened ``observation(4), achieved_goal(2), desired_goal(2)`` of
  :mod:`seamrl.envs.flatten`; terminals are all False.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seamrl.data.dataset import Dataset
from seamrl.errors import ConfigError

MAZES = ("umaze", "medium", "large")
GOAL_MODES = ("task", "controller")
#: D4RL's ``--noisy`` action noise (std of a Gaussian added before clipping to [-1, 1]).
NOISE_STD = 0.5
#: D4RL WaypointController gains: ``a = P_GAIN (w - p) + D_GAIN v``.
P_GAIN = 10.0
D_GAIN = -1.0
#: D4RL WaypointController ``solve_thresh``: the target counts as reached within this distance.
REACH_RADIUS = 0.1

Cell = tuple[int, int]


def maze2d_task(maze: str, dense: bool = False) -> str:
    """The registered task name, e.g. ``maze2d-umaze-v1`` / ``maze2d-umaze-dense-v1``."""
    if maze not in MAZES:
        raise ConfigError(f"Maze {maze!r} is unknown; expected one of {', '.join(MAZES)}.")
    return f"maze2d-{maze}{'-dense' if dense else ''}-v1"


# ---------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class MazeGrid:
    """Free cells of a maze map and Gymnasium-Robotics' cell ↔ (x, y) convention."""

    free: frozenset[Cell]
    rows: int
    cols: int
    scale: float = 1.0

    @classmethod
    def from_map(cls, maze_map: Sequence[Sequence[Any]], scale: float = 1.0) -> MazeGrid:
        free = frozenset((i, j) for i, row in enumerate(maze_map) for j, c in enumerate(row) if c != 1)
        return cls(free=free, rows=len(maze_map), cols=len(maze_map[0]), scale=float(scale))

    def cell(self, x: float, y: float) -> Cell:
        """Row/column of the cell containing (x, y) (``Maze.cell_xy_to_rowcol``)."""
        i = math.floor((self.rows * self.scale / 2 - y) / self.scale)
        j = math.floor((x + self.cols * self.scale / 2) / self.scale)
        return i, j

    def center(self, cell: Cell) -> tuple[float, float]:
        """(x, y) of a cell's centre (``Maze.cell_rowcol_to_xy``)."""
        i, j = cell
        return (j + 0.5) * self.scale - self.cols * self.scale / 2, self.rows * self.scale / 2 - (i + 0.5) * self.scale


def plan_next_cells(grid: MazeGrid) -> dict[Cell, dict[Cell, Cell]]:
    """For every goal cell, map each free cell to its successor on a shortest path to the goal.

    D4RL ran Q-iteration on the grid; on a 4-connected grid with unit steps a breadth-first search
    from the goal gives the same shortest paths. Ties go to the first of up, down, left, right.
    """
    steps = ((-1, 0), (1, 0), (0, -1), (0, 1))
    table: dict[Cell, dict[Cell, Cell]] = {}
    for goal in sorted(grid.free):
        dist = {goal: 0}
        queue = deque([goal])
        while queue:
            i, j = queue.popleft()
            for di, dj in steps:
                nb = (i + di, j + dj)
                if nb in grid.free and nb not in dist:
                    dist[nb] = dist[(i, j)] + 1
                    queue.append(nb)
        nxt = {goal: goal}
        for (i, j), d in dist.items():
            if d > 0:
                nxt[(i, j)] = next(
                    (i + di, j + dj) for di, dj in steps if dist.get((i + di, j + dj), -1) == d - 1
                )
        table[goal] = nxt
    return table


@dataclass(frozen=True)
class WaypointController:
    """PD controller toward the next cell on a shortest path to a goal (D4RL's maze2d expert)."""

    grid: MazeGrid
    next_cells: dict[Cell, dict[Cell, Cell]]
    p_gain: float = P_GAIN
    d_gain: float = D_GAIN

    @classmethod
    def for_map(cls, maze_map: Sequence[Sequence[Any]], scale: float = 1.0) -> WaypointController:
        grid = MazeGrid.from_map(maze_map, scale)
        return cls(grid=grid, next_cells=plan_next_cells(grid))

    def waypoint(self, x: float, y: float, gx: float, gy: float) -> tuple[float, float]:
        """The goal itself inside the goal cell, else the centre of the next cell on the path."""
        here = self.grid.cell(x, y)
        nxt = self.next_cells.get(self.grid.cell(gx, gy), {}).get(here)
        if nxt is None or nxt == here:  # in the goal cell (or off the grid): head for the goal
            return gx, gy
        return self.grid.center(nxt)

    def action(self, x: float, y: float, vx: float, vy: float, gx: float, gy: float) -> tuple[float, float]:
        """Noise-free action in [-1, 1]² for a ball at (x, y) with velocity (vx, vy)."""
        wx, wy = self.waypoint(x, y, gx, gy)
        ax = self.p_gain * (wx - x) + self.d_gain * vx
        ay = self.p_gain * (wy - y) + self.d_gain * vy
        return min(1.0, max(-1.0, ax)), min(1.0, max(-1.0, ay))


def _task_env(maze: str, dense: bool) -> Any:
    from seamrl import envs

    return envs.make(maze2d_task(maze, dense))


def waypoint_policy(maze: str) -> Callable[[np.ndarray], np.ndarray]:
    """Noise-free controller as a batched policy on flat maze2d observations ``(n, 8) → (n, 2)``.

    It steers toward each row's ``desired_goal``, so it solves the registered maze2d tasks.
    """
    maze_map = _map_of(maze)
    ctrl = WaypointController.for_map(maze_map)

    def policy(obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64).reshape(-1, 8)
        out = [ctrl.action(o[0], o[1], o[2], o[3], o[6], o[7]) for o in obs]
        return np.asarray(out, dtype=np.float32)

    return policy


def _map_of(maze: str) -> list[list[Any]]:
    from seamrl.envs.registry import task_info

    return task_info(maze2d_task(maze)).env_kwargs["maze_map"]


# ---------------------------------------------------------------------------------- collection


def collect_pointmaze(
    maze: str,
    transitions: int,
    seed: int,
    dense: bool = False,
    *,
    noise_std: float = NOISE_STD,
    goal: str = "task",
) -> Dataset:
    """``transitions`` rows of D4RL-style maze2d data for ``maze2d-{maze}[-dense]-v1``.

    See the module docstring for the controller, the noise, the episode cuts and the two goal
    labellings. The same arguments give byte-identical arrays.
    """
    task = maze2d_task(maze, dense)
    if isinstance(transitions, bool) or int(transitions) != transitions or transitions < 1:
        raise ConfigError(f"collect_pointmaze: transitions={transitions!r} is invalid; expected a positive integer.")
    if not (isinstance(noise_std, (int, float)) and math.isfinite(noise_std) and noise_std >= 0):
        raise ConfigError(f"collect_pointmaze: noise_std={noise_std!r} is invalid; expected a finite value >= 0.")
    if goal not in GOAL_MODES:
        raise ConfigError(f"collect_pointmaze: goal={goal!r} is invalid; expected one of {', '.join(GOAL_MODES)}.")
    n = int(transitions)

    env = _task_env(maze, dense)
    base = env.unwrapped  # PointMazeEnv: its maze, reward function and point-mass MuJoCo env
    period = int(env.spec.max_episode_steps)
    ctrl = WaypointController.for_map(base.maze.maze_map, base.maze.maze_size_scaling)
    grid = ctrl.grid
    cells = sorted(grid.free)
    jitter = base.position_noise_range * base.maze.maze_size_scaling
    task_cells = [tuple(grid.cell(*xy)) for xy in base.maze.unique_goal_locations]

    noise_rng, goal_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2))
    noise = noise_rng.standard_normal((n, 2)) * float(noise_std)

    def draw(choices: Sequence[Cell]) -> tuple[float, float]:
        cx, cy = grid.center(choices[int(goal_rng.integers(len(choices)))])
        dx, dy = goal_rng.uniform(-jitter, jitter, size=2)
        return cx + float(dx), cy + float(dy)

    def new_target(x: float, y: float) -> tuple[float, float]:
        here = grid.cell(x, y)
        return draw([c for c in cells if c != here] or cells)

    obs0, _ = base.reset(seed=int(seed))  # random start cell, as the evaluation env's reset
    states = np.empty((n + 1, 4), dtype=np.float64)
    states[0] = obs0["observation"]
    actions = np.empty((n, 2), dtype=np.float32)
    targets = np.empty((n, 2), dtype=np.float64)
    task_goals = np.empty((n, 2), dtype=np.float64)

    x, y, vx, vy = (float(v) for v in states[0])
    target = new_target(x, y)
    task_goal = draw(task_cells)
    step = base.point_env.step  # the env's own point-mass step (velocity clip, MuJoCo step)
    for t in range(n):
        if t > 0 and t % period == 0:  # episode cut: new controller target and evaluation goal
            target = new_target(x, y)
            task_goal = draw(task_cells)
        ax, ay = ctrl.action(x, y, vx, vy, *target)
        act = np.array([ax + noise[t, 0], ay + noise[t, 1]], dtype=np.float32).clip(-1.0, 1.0)
        s = step(act)[0]
        states[t + 1] = s
        actions[t] = act
        targets[t] = target
        task_goals[t] = task_goal
        x, y, vx, vy = float(s[0]), float(s[1]), float(s[2]), float(s[3])
        if math.hypot(x - target[0], y - target[1]) <= REACH_RADIUS:  # reached: next row chases a new one
            target = new_target(x, y)

    desired = task_goals if goal == "task" else targets
    now, nxt = states[:-1], states[1:]
    rewards = np.asarray(base.compute_reward(nxt[:, :2], desired, {}), dtype=np.float64)
    timeouts = (np.arange(n) + 1) % period == 0
    timeouts[-1] = True
    env.close()
    return Dataset.create(
        observations=np.concatenate([now, now[:, :2], desired], axis=1),
        actions=actions,
        rewards=rewards,
        terminals=np.zeros(n, dtype=bool),
        timeouts=timeouts,
        next_observations=np.concatenate([nxt, nxt[:, :2], desired], axis=1),
        infos={"goal": targets.astype(np.float32)},
        name=task,
        source=f"collect_pointmaze({maze!r}, transitions={n}, seed={int(seed)}, noise_std={noise_std}, goal={goal!r})",
        max_episode_steps=period,
    )
