"""Evaluate and watch a trained agent: returns of greedy episodes, and one episode as an animated GIF.

Anything with an `act(obs, deterministic) -> actions` method (the `Policy` protocol) can be evaluated and
animated here, whatever algorithm trained it.
"""
from __future__ import annotations

import io
import os
from typing import Any, NamedTuple, Protocol

import numpy as np

from course_lib.validation import check_env_id, check_positive_int, check_seed

__all__ = ["Policy", "RandomPolicy", "EvalResult", "evaluate", "render_frames", "frames_to_gif", "animate_episode"]


# ---------------------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------------------


class Policy(Protocol):
    """Anything that can act: every trained agent in the course (actor-critic, DQN, tabular) implements this."""

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """obs: (N, obs_dim) raw observations → (N,) discrete actions or (N, act_dim) actions within the bounds."""
        ...


class RandomPolicy:
    """Uniformly random actions for ``env_id``'s action space: the baseline a normalised score calls 0.

    ``evaluate(RandomPolicy(env_id), env_id, ...)`` scores it on the same episode starts as a trained agent.
    ``act`` ignores the observations and ``deterministic`` (the policy is random either way); ``seed`` seeds the
    actions, so the score is reproducible.
    """

    def __init__(self, env_id: str, seed: int = 0) -> None:
        import gymnasium as gym
        from gymnasium import spaces

        env = gym.make(check_env_id("env_id", env_id))
        self.space = env.action_space
        env.close()
        if not isinstance(self.space, (spaces.Discrete, spaces.Box)):
            raise ValueError(f"RandomPolicy supports Discrete and Box action spaces; {env_id} has {self.space}")
        self.rng = np.random.default_rng(check_seed("seed", seed))

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """obs: (N, obs_dim) → (N,) discrete actions or (N, act_dim) actions uniform within the bounds."""
        n = len(obs)
        if hasattr(self.space, "n"):  # Discrete(n, start)
            return self.rng.integers(self.space.start, self.space.start + self.space.n, size=n)
        return self.rng.uniform(self.space.low, self.space.high, size=(n, *self.space.shape)).astype(self.space.dtype)


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

    env_id = check_env_id("env_id", env_id)
    n_episodes = check_positive_int("n_episodes", n_episodes)
    seed = check_seed("seed", seed)
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

    env_id = check_env_id("env_id", env_id)
    every = check_positive_int("every", every)
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
