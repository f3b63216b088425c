"""What every training run shares: its record (History), a progress bar, evaluation, a NaN guard.

Every algorithm in `course_lib.algos` (REINFORCE, A2C, PPO, TRPO, Q-learning, DQN) returns a `History`: one
`UpdateRow` per parameter update plus one `Episode` per finished *training* episode. Notebooks plot its
columns; tests compare two same-seed runs with `==` and read `steps_to_threshold` from it.

Anything with an `act(obs, deterministic) -> actions` method (the `Policy` protocol) can be evaluated and
animated here, whatever algorithm trained it.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

# ---------------------------------------------------------------------------------------------------------------
# The record of a run
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class UpdateRow:
    """Statistics of one parameter update; one dataclass for every algorithm (fields it has no use for stay None).

    Every loss/statistic is the average over all minibatches (and epochs) of the update, not the last one.
    """

    env_steps: int
    """Environment steps taken so far (all parallel envs counted), at the end of this update's rollout."""
    episode_return_mean: float | None
    """Mean return of the last 20 finished training episodes (fewer if fewer finished; None if none yet)."""
    policy_loss: float | None = None
    """Actor loss that was minimised (e.g. -clipped surrogate)."""
    value_loss: float | None = None
    """Critic loss: mean squared error between V(s) and the return targets (times 0.5 where the algo says)."""
    entropy: float | None = None
    """Mean entropy of the policy on the batch, in nats."""
    approx_kl: float | None = None
    """k3 estimate of KL(pi_old || pi_new) from the batch: mean((r - 1) - log r), r = pi_new / pi_old."""
    clip_fraction: float | None = None
    """Fraction of samples whose ratio lay outside [1 - clip_eps, 1 + clip_eps]."""
    explained_variance: float | None = None
    """1 - Var[ret - V] / Var[ret] of the critic's predictions before the update (1 = perfect, <= 0 = useless)."""
    learning_rate: float | None = None
    """Learning rate used in this update (after annealing)."""
    steps_per_second: float | None = field(default=None, compare=False)
    """Wall-clock throughput of the whole update (rollout + learning). Ignored by ==, it is never reproducible."""
    q_loss: float | None = None
    """DQN / Q-learning: mean TD loss of the update."""
    epsilon: float | None = None
    """DQN / Q-learning: exploration rate used while collecting."""
    clip_eps: float | None = None
    """PPO: clip range used in this update (after annealing)."""
    kl_beta: float | None = None
    """PPO with adaptive KL penalty: the penalty coefficient beta used in this update."""
    epochs: float | None = None
    """PPO: epochs actually run (fewer than configured when target_kl stopped the update early)."""
    step_fraction: float | None = None
    """TRPO: fraction of the full natural-gradient step the line search accepted (0 = rejected)."""


_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(UpdateRow))


class Episode(NamedTuple):
    """One finished training episode."""

    env_steps: int
    """Environment steps taken so far (all envs) when the episode ended."""
    ret: float
    """Undiscounted return of the episode."""
    length: int
    """Number of steps in the episode."""


@dataclass
class History:
    """The record of a training run: `rows` (one `UpdateRow` per update) and `episodes` (finished episodes).

    Two runs with the same seed on CPU compare equal with `==` (steps_per_second is left out of the comparison).
    """

    rows: list[UpdateRow] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)

    def append(self, row: UpdateRow) -> None:
        """Add the statistics of one update."""
        if not isinstance(row, UpdateRow):
            raise ValueError(f"row must be an UpdateRow, got {type(row).__name__}")
        self.rows.append(row)

    def add_episode(self, env_steps: int, ret: float, length: int) -> None:
        """Record a finished training episode: env steps (all envs) at its end, its return and its length."""
        self.episodes.append(Episode(int(env_steps), float(ret), int(length)))

    def recent_return_mean(self, window: int = 20) -> float | None:
        """Mean return of the last `window` finished episodes (all of them if fewer), None if there are none."""
        if not self.episodes:
            return None
        return float(np.mean([e.ret for e in self.episodes[-window:]]))

    def column(self, name: str) -> np.ndarray:
        """The values of one `UpdateRow` field over all updates, shape (len(rows),), float64 with NaN for None."""
        if name not in _ROW_FIELDS:
            raise ValueError(f"column name must be one of {_ROW_FIELDS}, got {name!r}")
        return np.array(
            [np.nan if getattr(r, name) is None else float(getattr(r, name)) for r in self.rows], dtype=np.float64
        )

    def episode_returns(self) -> np.ndarray:
        """Returns of all finished episodes in order, shape (E,)."""
        return np.array([e.ret for e in self.episodes], dtype=np.float64)

    def episode_steps(self) -> np.ndarray:
        """Env steps at which each episode finished, shape (E,)."""
        return np.array([e.env_steps for e in self.episodes], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    # -- save / load as JSON (human-readable, diff-able, no pickle) ------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form: {"rows": [field dicts], "episodes": [[env_steps, ret, length], ...]}."""
        return {"rows": [dataclasses.asdict(r) for r in self.rows], "episodes": [list(e) for e in self.episodes]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of `to_dict`."""
        h = cls()
        for r in d["rows"]:
            h.append(UpdateRow(**r))
        for steps, ret, length in d["episodes"]:
            h.add_episode(steps, ret, length)
        return h

    def save(self, path: str | os.PathLike) -> None:
        """Write the history to `path` as JSON."""
        with open(path, "w") as f:
            json.dump(self.to_dict(), f)

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Read a history written by `save`."""
        with open(path) as f:
            return cls.from_dict(json.load(f))


def steps_to_threshold(history: History, threshold: float = 475.0, window: int = 20) -> int | None:
    """Env steps at which the mean return of the last `window` finished training episodes first reaches `threshold`.

    Only full windows count (at least `window` finished episodes), so a lucky first episode cannot "solve" a task.
    Returns None if the threshold is never reached.
    """
    if window < 1:
        raise ValueError(f"window must be a positive integer, got {window}")
    rets = history.episode_returns()
    if len(rets) < window:
        return None
    # mean over episodes k-window+1 .. k, for every k >= window-1, via cumulative sums
    csum = np.concatenate([[0.0], np.cumsum(rets)])
    means = (csum[window:] - csum[:-window]) / window
    hit = np.flatnonzero(means >= threshold)
    if len(hit) == 0:
        return None
    return int(history.episodes[hit[0] + window - 1].env_steps)


# ---------------------------------------------------------------------------------------------------------------
# Progress bar and NaN guard
# ---------------------------------------------------------------------------------------------------------------


def progress(total: int, desc: str, enabled: bool = True):
    """A tqdm progress bar over `total` env steps: a widget in Jupyter, text in a terminal, nothing if disabled.

    Use as `with progress(total, "PPO") as bar: ... bar.update(n); bar.set_postfix(ret=...)`.
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, unit="step", unit_scale=True, dynamic_ncols=True)


def check_finite(update: int, **quantities: Any) -> None:
    """Raise FloatingPointError if any quantity (float, numpy array or torch tensor) holds NaN or inf.

    The message names the update number and the quantity, e.g. `check_finite(12, policy_loss=loss)`.
    """
    for name, value in quantities.items():
        if value is None:
            continue
        if hasattr(value, "detach"):  # torch tensor
            value = value.detach().cpu().numpy()
        arr = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            shown = arr if arr.size == 1 else f"{int(np.sum(~np.isfinite(arr)))} of {arr.size} entries non-finite"
            raise FloatingPointError(
                f"update {update}: {name} is not finite ({shown}); training diverged — "
                "try a smaller learning rate, gradient clipping or observation/reward normalisation"
            )


# ---------------------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------------------


class Policy(Protocol):
    """Anything that can act: every trained agent in the course (actor-critic, DQN, tabular) implements this."""

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """obs: (N, obs_dim) raw observations → (N,) discrete actions or (N, act_dim) actions within the bounds."""
        ...


class EvalResult(NamedTuple):
    """Returns and lengths of evaluation episodes, shape (n_episodes,) each."""

    returns: np.ndarray
    lengths: np.ndarray

    @property
    def mean(self) -> float:
        """Mean return."""
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        """Standard deviation of the returns (population, ddof=0)."""
        return float(np.std(self.returns))


def evaluate(
    agent: Policy, env_id: str, n_episodes: int = 10, deterministic: bool = True, seed: int = 0, **env_kwargs: Any
) -> EvalResult:
    """Run `n_episodes` full episodes with `agent.act` and return their returns and lengths.

    Episode k starts from `reset(seed=seed + k)`, so the result depends only on the agent and `seed`. The
    episodes run side by side (one `act` call per time step for all still-running episodes), which is much
    faster than one call per step per episode. Extra keyword arguments go to `gymnasium.make`.
    """
    import gymnasium as gym

    if n_episodes < 1:
        raise ValueError(f"n_episodes must be a positive integer, got {n_episodes}")
    envs = [gym.make(env_id, **env_kwargs) for _ in range(n_episodes)]
    obs = np.stack([env.reset(seed=seed + k)[0] for k, env in enumerate(envs)])
    returns = np.zeros(n_episodes)
    lengths = np.zeros(n_episodes, dtype=np.int64)
    running = np.ones(n_episodes, dtype=bool)
    while running.any():
        idx = np.flatnonzero(running)
        actions = np.asarray(agent.act(obs[idx], deterministic=deterministic))
        for j, k in enumerate(idx):
            a = actions[j]
            o, r, terminated, truncated, _ = envs[k].step(a.item() if a.ndim == 0 else a)
            obs[k] = o
            returns[k] += float(r)
            lengths[k] += 1
            if terminated or truncated:
                running[k] = False
    for env in envs:
        env.close()
    return EvalResult(returns, lengths)


# ---------------------------------------------------------------------------------------------------------------
# Animation: an episode as a small animated GIF embedded in HTML (no ffmpeg, no display server)
# ---------------------------------------------------------------------------------------------------------------


def render_frames(
    agent: Policy, env_id: str, seed: int = 0, max_steps: int = 500, every: int = 2, deterministic: bool = True
) -> tuple[list[np.ndarray], float, int]:
    """Play one episode with `render_mode="rgb_array"`; keep every `every`-th frame (H, W, 3) uint8.

    Returns (frames, episode return, episode length).
    """
    import gymnasium as gym

    if every < 1:
        raise ValueError(f"every must be a positive integer, got {every}")
    # pygame (the classic-control renderer) otherwise looks for an audio device and, without a display, prints
    # "XDG_RUNTIME_DIR is invalid"; rgb_array rendering needs neither
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    env = gym.make(env_id, render_mode="rgb_array")
    obs, _ = env.reset(seed=seed)
    frames = [env.render()]
    ret, t = 0.0, 0
    for t in range(1, max_steps + 1):
        a = np.asarray(agent.act(obs[None], deterministic=deterministic))[0]
        obs, r, terminated, truncated, _ = env.step(a.item() if a.ndim == 0 else a)
        ret += float(r)
        done = terminated or truncated
        if t % every == 0 or done:
            frames.append(env.render())
        if done:
            break
    env.close()
    return frames, ret, t


def frames_to_gif(frames: list[np.ndarray], fps: float = 25.0, width: int = 240) -> bytes:
    """Encode (H, W, 3) uint8 frames as an animated GIF, downscaled to `width` pixels; returns the file's bytes."""
    from PIL import Image

    if not frames:
        raise ValueError("frames must be a non-empty list of (H, W, 3) images, got an empty list")
    images = []
    for f in frames:
        img = Image.fromarray(np.asarray(f, dtype=np.uint8))
        h = max(1, round(img.height * width / img.width))
        # few colours: the classic-control renders are flat shapes, so a 32-colour palette compresses well
        images.append(img.resize((width, h), Image.Resampling.BILINEAR).quantize(colors=32))
    buf = io.BytesIO()
    duration_ms = int(round(1000.0 / fps))
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0,
                   optimize=True)
    return buf.getvalue()


def animate_episode(
    agent: Policy,
    env_id: str,
    seed: int = 0,
    max_steps: int = 500,
    every: int = 2,
    width: int = 240,
    deterministic: bool = True,
):
    """One episode of `agent` as an IPython HTML animation (an embedded GIF, typically 50–300 kB).

    `every`: keep every n-th frame (the GIF plays at the env's own frame rate divided by `every`, i.e. real time);
    `width`: pixels; both keep the notebook small. The caption gives the return and the number of steps.
    """
    import base64

    import gymnasium as gym
    from IPython.display import HTML

    frames, ret, length = render_frames(agent, env_id, seed=seed, max_steps=max_steps, every=every,
                                deterministic=deterministic)
    env = gym.make(env_id)
    env_fps = env.metadata.get("render_fps") or 30
    env.close()
    gif = frames_to_gif(frames, fps=float(env_fps) / every, width=width)
    b64 = base64.b64encode(gif).decode("ascii")
    caption = f"{env_id}, seed {seed}: return {ret:.1f} in {length} steps"
    return HTML(f'<figure><img src="data:image/gif;base64,{b64}" alt="{caption}"/>'
                f"<figcaption>{caption}</figcaption></figure>")
