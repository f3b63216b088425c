"""Notebook 07 (PPO end to end): a rollout loop written for the old gym API, a time-limit truncation treated
as termination, a rollout that stores the clipped action, a tanh-squashed log-probability without the
change-of-variables (Jacobian) term, and a language model's KL penalty on the wrong distribution."""
from __future__ import annotations

import math
from dataclasses import dataclass
from textwrap import dedent
from typing import Any

import numpy as np
import torch

from .compare import as_tensor, close, fmt, mismatch
from .core import Case, CheckFailure, Exercise, Observation, WrongFix
from .inputs import flags, generator, randn, uniform


# ---------------------------------------------------------------------------------------------------------------
# 07.gymnasium_api
# ---------------------------------------------------------------------------------------------------------------
class FakeEnv:
    """A tiny environment with the Gymnasium 1.x API that is strict about the order of calls.

    obs = [episode index, step in episode, noise] (float32, (3,)); the noise comes from the env's RNG, which
    ``reset(seed=s)`` reseeds and ``reset()`` continues. Actions are 0 or 1; reward = 1 + 0.5 * action + noise / 10.
    An episode terminates at a length drawn at reset from {2, ..., 7}, or is truncated by the time limit (5 steps)
    first. ``step()`` after the episode ended raises, as stepping a finished Gymnasium env is an error.
    """

    def __init__(self, time_limit: int = 5) -> None:
        self.time_limit = time_limit
        self.reset_seeds: list[int | None] = []
        self._rng = np.random.default_rng(0)
        self._episode = -1
        self._t: int | None = None
        self._end = 0
        self._noise = 0.0
        self._over = False

    def _obs(self) -> np.ndarray:
        return np.array([self._episode, self._t, self._noise], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode: returns (obs, info)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.reset_seeds.append(seed)
        self._episode += 1
        self._t, self._over = 0, False
        self._end = int(self._rng.integers(2, 8))
        self._noise = float(self._rng.normal())
        return self._obs(), {"episode": self._episode}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Returns (obs, reward, terminated, truncated, info)."""
        if self._t is None:
            raise RuntimeError("step() was called before reset(); call env.reset(seed=...) first")
        if self._over:
            raise RuntimeError("step() was called after the episode ended (terminated or truncated); "
                               "call env.reset() first")
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)) or action not in (0, 1):
            raise ValueError(f"action must be 0 or 1; got {action!r}")
        self._t += 1
        self._noise = float(self._rng.normal())
        reward = 1.0 + 0.5 * int(action) + 0.1 * self._noise
        terminated = self._t >= self._end
        truncated = not terminated and self._t >= self.time_limit
        self._over = terminated or truncated
        return self._obs(), reward, terminated, truncated, {}


def fake_policy(obs: Any) -> int:
    """action = 1 if the observation's noise is positive, else 0; obs must be one (3,) array."""
    if not isinstance(obs, np.ndarray) or obs.shape != (3,):
        if isinstance(obs, np.ndarray):
            kind = f"an array of shape {obs.shape}"
        elif isinstance(obs, (tuple, list)):
            kind = f"a {type(obs).__name__} of {len(obs)} items"
        else:
            kind = f"a {type(obs).__name__}"
        raise TypeError(f"the policy expects one observation, an array of shape (3,); it got {kind}: "
                        "look at what the env call that produced it returns")
    return int(obs[2] > 0)


@dataclass(frozen=True)
class Collection:
    """A seed for the first reset and the number of steps to collect."""

    seed: int
    n_steps: int


def _collect_cases(seed: int) -> list[Case]:
    return [
        Case("20 steps (several episodes)", Collection(seed % 10_000, 20)),
        Case("1 step", Collection(seed % 10_000 + 1, 1)),
        Case("40 steps", Collection(seed % 10_000 + 2, 40)),
    ]


_FIELDS = ("obs", "action", "reward", "terminated", "truncated", "next_obs")


def _collect_probe(func, case: Case) -> Observation:
    d: Collection = case.data
    env = FakeEnv()
    out = func(env, fake_policy, d.n_steps, d.seed)
    try:
        items = list(out)
    except TypeError:
        raise CheckFailure(f"your function returned a {type(out).__name__}; expected a list of Transition") from None
    if len(items) != d.n_steps:
        raise CheckFailure(f"your function returned {len(items)} transitions; expected n_steps = {d.n_steps}")
    columns: dict[str, list[torch.Tensor]] = {name: [] for name in _FIELDS}
    for k, item in enumerate(items):
        if not isinstance(item, tuple) or len(item) != len(_FIELDS):
            raise CheckFailure(f"transition {k} is not a Transition (obs, action, reward, terminated, truncated, "
                               "next_obs)")
        for name, value in zip(_FIELDS, item):
            shape = (3,) if name.endswith("obs") else ()
            columns[name].append(as_tensor(np.asarray(value, dtype=np.float64), f"transition {k}'s {name}", shape))
    observation: Observation = {name: torch.stack(values) for name, values in columns.items()}
    observation["reset_seeds"] = [-1 if s is None else int(s) for s in env.reset_seeds]
    return observation


def _collect_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: Collection = case.data
    seeds = got["reset_seeds"]
    if seeds[:1] != [d.seed]:
        first = "no reset at all" if not seeds else ("no seed" if seeds[0] == -1 else f"seed {seeds[0]}")
        return f"the first reset got {first}, expected the seed argument ({d.seed}), so runs cannot be repeated"
    if any(s != -1 for s in seeds[1:]):
        k = next(i for i, s in enumerate(seeds) if i > 0 and s != -1)
        return (f"reset() received a seed again at the start of episode {k + 1} (seeds passed: "
                f"{[None if s == -1 else s for s in seeds[:4]]}): every episode would replay the same random "
                "episode")
    for k in range(d.n_steps):
        for name in _FIELDS:
            if close(got[name][k], want[name][k]):
                continue
            where = f"transition {k}"
            if name == "terminated" and bool(want["truncated"][k]) and bool(got["terminated"][k]):
                return (f"{where} was cut by the time limit, but your transition stores terminated=True: a critic "
                        "trained on it would treat a time-limit cut as a true end")
            if name == "truncated":
                return (f"{where}: your transition stores truncated={bool(got['truncated'][k])}, but step() "
                        f"returned truncated={bool(want['truncated'][k])}")
            if name == "obs" and k > 0 and close(got["obs"][k], got["next_obs"][k - 1]):
                return (f"{where} starts from the previous episode's final observation, not from the first "
                        "observation of a new episode")
            problem = mismatch(got[name][k], want[name][k], name)
            return f"{where}: {problem}"
    if len(seeds) != len(want["reset_seeds"]):
        return f"reset() was called {len(seeds)} times; expected {len(want['reset_seeds'])} (once per episode)"
    return None


COLLECT_STARTER = dedent('''\
    from typing import NamedTuple

    import numpy as np


    class Transition(NamedTuple):
        obs: np.ndarray
        action: int
        reward: float
        terminated: bool
        truncated: bool
        next_obs: np.ndarray


    def collect(env, policy, n_steps, seed):
        """Run `policy` in `env` for n_steps steps, starting new episodes as needed.

        env:     a Gymnasium 1.x environment: reset(seed=...) -> (obs, info);
                 step(action) -> (obs, reward, terminated, truncated, info)
        policy:  function obs -> action
        n_steps: number of transitions to collect
        seed:    seed for the first reset only (later resets continue the env's random stream)
        returns: list of n_steps Transition; next_obs is what step() returned (the final obs at an episode end)
        """
        transitions = []
        obs = env.reset(seed=seed)
        for _ in range(n_steps):
            action = policy(obs)
            next_obs, reward, done, info = env.step(action)
            transitions.append(Transition(obs, action, reward, done, False, next_obs))
            obs = next_obs
            if done:
                obs = env.reset(seed=seed)
        return transitions
''')

_COLLECT_LOOP = COLLECT_STARTER[COLLECT_STARTER.index("    transitions = []"):]
COLLECT_REFERENCE = COLLECT_STARTER.replace(_COLLECT_LOOP, """\
    transitions = []
    obs, info = env.reset(seed=seed)  # seed only the first reset
    for _ in range(n_steps):
        action = policy(obs)
        next_obs, reward, terminated, truncated, info = env.step(action)
        transitions.append(Transition(obs, action, reward, terminated, truncated, next_obs))
        obs = next_obs
        if terminated or truncated:  # either way the episode is over: start the next one
            obs, info = env.reset()
    return transitions
""")

COLLECT_EXPLANATION = dedent('''\
    Gymnasium (the maintained successor of gym) changed two signatures in 0.26, and 1.x keeps them:
    reset(seed=...) returns a pair (obs, info), and step() returns five values, with the old `done` split into
    `terminated` (the task ended: no value after this state) and `truncated` (a time limit or other outside
    cut: the state still has a value). Code written for the old API breaks loudly (a tuple where an
    observation should be, "too many values to unpack") or, worse, quietly: storing done as terminated makes
    every time-limit end look like a true end. Reset when either flag is set, keep both flags in the buffer,
    and pass the seed only to the first reset - reseeding each episode replays the same episode forever.
''')

COLLECT_WRONG = (
    WrongFix(COLLECT_REFERENCE.replace("        if terminated or truncated:", "        if terminated:"),
             "resets only on termination: steps a truncated episode"),
    WrongFix(COLLECT_REFERENCE.replace("Transition(obs, action, reward, terminated, truncated, next_obs)",
                                  "Transition(obs, action, reward, terminated or truncated, truncated, next_obs)"),
             "stores done as terminated"),
    WrongFix(COLLECT_REFERENCE.replace("obs, info = env.reset()\n", "obs, info = env.reset(seed=seed)\n"),
             "reseeds every episode"),
    WrongFix(COLLECT_REFERENCE.replace("obs, info = env.reset()\n", "env.reset()\n"),
             "resets but keeps the final observation as the next start"),
)

COLLECT_HINTS = (
    "Compare each env call with the Gymnasium 1.x signatures in the docstring: what does "
    "`env.reset(seed=...)` return, and how many values does `env.step(action)` return? Then check which "
    "resets should receive the seed.",
    "reset() returns a pair (obs, info); step() returns five values, with the old `done` split into "
    "`terminated` and `truncated`. Store both flags as step() gives them, start a new episode when either is "
    "set (continuing from the observation that reset returns), and pass the seed to the first reset only.",
    "The loop:\n\n```python\n"
    "transitions = []\n"
    "obs, info = env.reset(seed=seed)\n"
    "for _ in range(n_steps):\n"
    "    action = policy(obs)\n"
    "    next_obs, reward, terminated, truncated, info = env.step(action)\n"
    "    transitions.append(Transition(obs, action, reward, terminated, truncated, next_obs))\n"
    "    obs = next_obs\n"
    "    if terminated or truncated:\n"
    "        obs, info = env.reset()\n"
    "return transitions\n```",
)

GYMNASIUM_API = Exercise(
    id="07.gymnasium_api",
    title="A rollout loop for the old gym API",
    func_name="collect",
    starter=COLLECT_STARTER,
    reference=COLLECT_REFERENCE,
    explanation=COLLECT_EXPLANATION,
    make_cases=_collect_cases,
    probe=_collect_probe,
    judge=_collect_judge,
    wrong_fixes=COLLECT_WRONG,
    hints=COLLECT_HINTS,
)


# ---------------------------------------------------------------------------------------------------------------
# 07.truncation_bootstrap
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TDBatch:
    """reward, next_value, terminated, truncated: (T,) or (T, N); and gamma."""

    reward: torch.Tensor
    next_value: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    gamma: float

    def target(self, mask: torch.Tensor) -> torch.Tensor:
        """r + gamma * V(s') * mask, float64."""
        return self.reward.double() + self.gamma * self.next_value.double() * mask


def _pendulum_like(seed: int) -> TDBatch:
    """600 steps of Pendulum-style data: reward in [-16.3, 0], truncated every 200 steps, never terminated."""
    g = generator(seed)
    steps = 600
    truncated = torch.zeros(steps)
    truncated[199::200] = 1.0
    return TDBatch(-uniform(g, 0.0, 16.2736, steps), -uniform(g, 50.0, 400.0, steps), torch.zeros(steps),
                   truncated, 0.99)


def _constant_reward(gamma: float, steps: int = 30, every: int = 10) -> TDBatch:
    """Reward 1 each step and a truncation every ``every`` steps, with the true value V = 1 / (1 - gamma)."""
    truncated = torch.zeros(steps)
    truncated[every - 1::every] = 1.0
    value = 1.0 / (1.0 - gamma)
    return TDBatch(torch.ones(steps), torch.full((steps,), value), torch.zeros(steps), truncated, gamma)


def _mixed(seed: int, shape: tuple[int, ...]) -> TDBatch:
    g = generator(seed)
    terminated = flags(g, 0.15, *shape)
    truncated = flags(g, 0.15, *shape) * (1 - terminated)
    terminated.view(-1)[0], truncated.view(-1)[1] = 1.0, 1.0
    truncated.view(-1)[0] = 0.0
    terminated.view(-1)[1] = 0.0
    return TDBatch(randn(g, *shape), randn(g, *shape, scale=3.0), terminated, truncated, 0.95)


def _td_cases(seed: int) -> list[Case]:
    return [
        Case("Pendulum-style: truncated every 200 steps", _pendulum_like(seed)),
        Case("reward 1, true values V = 1/(1 - gamma), truncated every 10 steps", _constant_reward(0.9)),
        Case("terminations and truncations (T=32)", _mixed(seed + 1, (32,))),
        Case("vector env (T=16, N=3)", _mixed(seed + 2, (16, 3))),
    ]


def _td_probe(func, case: Case) -> Observation:
    d: TDBatch = case.data
    out = func(d.reward.clone(), d.next_value.clone(), d.terminated.clone(), d.truncated.clone(), d.gamma)
    return {"targets": as_tensor(out, "your targets", tuple(d.reward.shape))}


def _td_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: TDBatch = case.data
    y = got["targets"]
    if close(y, want["targets"]):
        return None
    term, trunc = d.terminated.double(), d.truncated.double()
    w = torch.as_tensor(want["targets"], dtype=torch.float64).flatten()
    if close(y, d.target((1 - term) * (1 - trunc))):
        bad = int(torch.nonzero(trunc.flatten())[0])
        return (f"at the time-limit cut (step {bad}) your target is {fmt(y.flatten()[bad])}, the reward alone, "
                f"expected {fmt(w[bad])}: your targets treat a truncated step as if nothing followed it")
    if close(y, d.target(1 - trunc)):
        return ("your targets keep the bootstrap after terminated steps and drop it after truncated ones: the "
                "two flags play each other's part")
    if close(y, d.target(torch.ones_like(term))):
        bad = int(torch.nonzero(term.flatten())[0])
        return (f"at a terminated step (step {bad}) your target is {fmt(y.flatten()[bad])}, expected the reward "
                f"alone, {fmt(w[bad])}: it still counts gamma * V(s') after a true end")
    problem = mismatch(y, want["targets"], "target")
    return problem + "; compare with the meaning of the two flags in the docstring"


TD_STARTER = dedent('''\
    import torch


    def td_targets(reward, next_value, terminated, truncated, gamma):
        """One-step TD targets for the critic.

        reward:     (T,) rewards r_t (or (T, N) for N envs, likewise below)
        next_value: (T,) V(s_{t+1}) of the observation step() returned (at an episode end: the final observation)
        terminated: (T,) 1.0 where the task really ended at step t (no value after it), else 0.0
        truncated:  (T,) 1.0 where a time limit cut the episode at step t (the state still has a value), else 0.0
        gamma:      discount in [0, 1]
        returns:    (T,) targets y_t
        """
        done = torch.maximum(terminated, truncated)
        return reward + gamma * next_value * (1.0 - done)
''')

TD_REFERENCE = dedent('''\
    import torch


    def td_targets(reward, next_value, terminated, truncated, gamma):
        """One-step TD targets; shapes as in the starter."""
        # y_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t): a truncated state keeps its bootstrap
        return reward + gamma * next_value * (1.0 - terminated)
''')

TD_EXPLANATION = dedent('''\
    `done = terminated or truncated` decides when to *reset*; it must not decide when to *stop bootstrapping*.
    A time limit is not part of the task: Pendulum-v1 never terminates, it is only cut after 200 steps, and
    the pendulum would have kept collecting (negative) reward afterwards. Zeroing V(s') there teaches the
    critic that every 200th state is worth r alone - a false target every episode, and a value function that
    depends on a clock the agent cannot see (Pardo et al., 2018). With reward 1 per step the true value is
    1 / (1 - gamma) in every state; only y = r + gamma * V(s') * (1 - terminated) leaves that value unchanged
    at a truncation. (V(s') must be the value of the real final observation, which next-step autoreset keeps.)
''')

_TD_BODY = "    done = torch.maximum(terminated, truncated)\n    return reward + gamma * next_value * (1.0 - done)\n"
TD_WRONG = (
    WrongFix(TD_STARTER.replace(_TD_BODY, "    return reward + gamma * next_value * (1.0 - truncated)\n"),
             "flags swapped"),
    WrongFix(TD_STARTER.replace(_TD_BODY, "    return reward + gamma * next_value\n"),
             "ignores both flags: bootstraps past true terminals"),
    WrongFix(TD_STARTER.replace(_TD_BODY,
                                "    return reward + gamma * next_value * (1.0 - terminated) * (1.0 - truncated)\n"),
             "the same mistake as the starter, written differently"),
)

TD_HINTS = (
    "Look at `done = torch.maximum(terminated, truncated)`. Both flags end an episode, but do both mean that "
    "the state after it is worth nothing? Read the docstring's description of each flag.",
    "`terminated` means the task really ended: no value follows. `truncated` means a time limit cut the "
    "episode: the state still has a value, so its target keeps gamma * V(s'). Only the first flag may switch "
    "the bootstrap off; `done` is for deciding when to reset.",
    "`return reward + gamma * next_value * (1.0 - terminated)`.",
)

TRUNCATION_BOOTSTRAP = Exercise(
    id="07.truncation_bootstrap",
    title="A time-limit truncation treated as termination",
    func_name="td_targets",
    starter=TD_STARTER,
    reference=TD_REFERENCE,
    explanation=TD_EXPLANATION,
    make_cases=_td_cases,
    probe=_td_probe,
    judge=_td_judge,
    wrong_fixes=TD_WRONG,
    hints=TD_HINTS,
)


# ---------------------------------------------------------------------------------------------------------------
# 07.store_unclipped
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BoxPolicy:
    """Gaussian means (B, act_dim) for ``n_states`` states repeated ``repeats`` times, log_std and bounds."""

    means: torch.Tensor     # (n_states, act_dim)
    log_std: torch.Tensor   # (act_dim,)
    low: torch.Tensor       # (act_dim,)
    high: torch.Tensor      # (act_dim,)
    repeats: int
    torch_seed: int

    def batch_mean(self) -> torch.Tensor:
        return self.means.repeat_interleave(self.repeats, dim=0)


def _box_policy(seed: int) -> BoxPolicy:
    g = generator(seed)
    low, high = torch.tensor([-1.0, -2.0]), torch.tensor([1.0, 2.0])
    # means near the bounds, so that a good share of samples falls outside them
    means = torch.stack([high * 0.8, low * 0.8, randn(g, 2, scale=0.3)])
    return BoxPolicy(means, torch.tensor([-0.4, 0.1]) + uniform(g, -0.1, 0.1, 2), low, high, 2000, seed % 2**31)


def _unclipped_cases(seed: int) -> list[Case]:
    return [Case("means near the action bounds", _box_policy(seed)),
            Case("another policy", _box_policy(seed + 1))]


def _unclipped_probe(func, case: Case) -> Observation:
    d: BoxPolicy = case.data
    mean = d.batch_mean()
    n, act_dim = mean.shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(d.torch_seed)
        out = func(mean.clone(), d.log_std.clone(), d.low.clone(), d.high.clone())
    if not isinstance(out, tuple) or len(out) != 3:
        raise CheckFailure("return three things: (action, logp, env_action)")
    action = as_tensor(out[0], "action", (n, act_dim))
    logp = as_tensor(out[1], "logp", (n,))
    env_action = as_tensor(out[2], "env_action", (n, act_dim))
    std = d.log_std.double().exp()
    dist = torch.distributions.Normal(mean.double(), std)
    a = action.reshape(d.means.shape[0], d.repeats, act_dim)
    outside = (action < d.low.double()) | (action > d.high.double())
    return {
        "logp_error": float((logp - dist.log_prob(action).sum(dim=-1)).abs().max()),
        "env_action_error": float((env_action - torch.maximum(torch.minimum(action, d.high.double()),
                                                                d.low.double())).abs().max()),
        "fraction_outside": float(outside.any(dim=-1).double().mean()),
        "sample_std": a.std(dim=1),
        "sample_mean": a.mean(dim=1),
    }


def _unclipped_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: BoxPolicy = case.data
    n = d.repeats
    std = d.log_std.double().exp()[None, :].expand_as(d.means)
    if got["fraction_outside"] == 0.0:
        return (f"every one of your {n * d.means.shape[0]} stored actions lies inside [low, high], but with means "
                f"this close to the bounds about {want['fraction_outside']:.0%} of the policy's samples fall "
                "outside: the stored actions are not the samples as drawn")
    # 6 standard errors, as for any sampled check
    if bool(((torch.as_tensor(got["sample_std"]) / std - 1).abs() > 6 / math.sqrt(2 * n)).any()):
        return "the spread of the stored actions is not the policy's standard deviation exp(log_std)"
    if bool(((torch.as_tensor(got["sample_mean"]) - d.means.double()).abs() / std > 6 / math.sqrt(n)).any()):
        return "the stored actions are not centred on the policy's means"
    if got["env_action_error"] > 1e-5:
        return (f"env_action differs from the stored action clipped to [low, high] by up to "
                f"{fmt(got['env_action_error'])}: the environment would receive actions outside its bounds")
    if got["logp_error"] > 1e-3:
        return (f"logp differs from log pi(action) of the stored action by up to {fmt(got['logp_error'])}: PPO's "
                "ratio would compare log-probabilities of actions other than the ones stored")
    return None


UNCLIPPED_STARTER = dedent('''\
    import torch
    from torch.distributions import Normal


    def act(mean, log_std, low, high):
        """Sample actions for a Box action space and return what the rollout needs.

        mean:      (B, act_dim) Gaussian means from the actor
        log_std:   (act_dim,) log standard deviations
        low, high: (act_dim,) the environment's action bounds
        returns:   action (B, act_dim): the sample as drawn, which the buffer stores;
                   logp (B,): log pi(action | s), summed over action dimensions;
                   env_action (B, act_dim): action clipped to [low, high], which is sent to env.step
        """
        dist = Normal(mean, log_std.exp())
        action = torch.clamp(dist.sample(), low, high)
        logp = dist.log_prob(action).sum(dim=-1)
        return action, logp, action
''')

UNCLIPPED_REFERENCE = dedent('''\
    import torch
    from torch.distributions import Normal


    def act(mean, log_std, low, high):
        """Sample, store unclipped, clip only for the env; shapes as in the starter."""
        dist = Normal(mean, log_std.exp())
        action = dist.sample()
        # log pi(a | s) = sum_i log N(a_i; mean_i, std_i^2), of the stored (unclipped) action
        logp = dist.log_prob(action).sum(dim=-1)
        # the env only accepts actions inside its bounds
        env_action = torch.clamp(action, low, high)
        return action, logp, env_action
''')

UNCLIPPED_EXPLANATION = dedent('''\
    Clipping is a property of the environment, not of the policy. If the buffer stores the clipped action,
    every sample beyond a bound collapses onto the bound, where the Gaussian density is not the probability
    with which it was chosen: log pi(clipped) is wrong, so PPO's ratio pi_new / pi_old is computed for actions
    the policy never took, and the gradient pushes the mean towards the bound for the wrong reason. Store the
    sample as drawn with its own log-probability, and clip only the copy sent to env.step (as SB3 and CleanRL
    do). An alternative is a squashed (tanh) Gaussian with the matching log-probability correction.
''')

_UNCLIPPED_BODY = ("    action = torch.clamp(dist.sample(), low, high)\n    logp = dist.log_prob(action).sum(dim=-1)\n"
                   "    return action, logp, action\n")
UNCLIPPED_WRONG = (
    WrongFix(UNCLIPPED_STARTER.replace(_UNCLIPPED_BODY,
                                       "    action = dist.sample()\n    env_action = torch.clamp(action, low, high)\n"
                                       "    logp = dist.log_prob(env_action).sum(dim=-1)\n"
                                       "    return action, logp, env_action\n"),
             "stores the raw action but its log-probability is that of the clipped one"),
    WrongFix(UNCLIPPED_STARTER.replace(_UNCLIPPED_BODY,
                                       "    action = dist.sample()\n    logp = dist.log_prob(action).sum(dim=-1)\n"
                                       "    return action, logp, action\n"),
             "forgets to clip what goes to the env"),
    WrongFix(UNCLIPPED_STARTER.replace(_UNCLIPPED_BODY,
                                       "    action = dist.sample()\n    env_action = torch.clamp(action, low, high)\n"
                                       "    return env_action, dist.log_prob(env_action).sum(dim=-1), env_action\n"),
             "clips first, then stores the clipped action"),
    WrongFix(UNCLIPPED_STARTER.replace(_UNCLIPPED_BODY,
                                       "    action = dist.sample()\n    logp = dist.log_prob(action)\n"
                                       "    return action, logp, torch.clamp(action, low, high)\n"),
             "does not sum the log-probability over action dimensions"),
)

UNCLIPPED_HINTS = (
    "Look at the line that builds `action`. The docstring returns three things: what the buffer stores, its "
    "log-probability, and what the environment receives. Which of them should respect the bounds, and which "
    "should be the sample exactly as drawn?",
    "Keep the sample as drawn for the buffer, together with its own log-probability (PPO's ratio compares "
    "these). Only the copy sent to env.step must lie inside [low, high].",
    "`action = dist.sample()`, `logp = dist.log_prob(action).sum(dim=-1)`, "
    "`env_action = torch.clamp(action, low, high)`, then `return action, logp, env_action`.",
)

STORE_UNCLIPPED = Exercise(
    id="07.store_unclipped",
    title="The rollout stores the clipped action",
    func_name="act",
    starter=UNCLIPPED_STARTER,
    reference=UNCLIPPED_REFERENCE,
    explanation=UNCLIPPED_EXPLANATION,
    make_cases=_unclipped_cases,
    probe=_unclipped_probe,
    judge=_unclipped_judge,
    wrong_fixes=UNCLIPPED_WRONG,
    hints=UNCLIPPED_HINTS,
)

# ---------------------------------------------------------------------------------------------------------------
# 07.tanh_jacobian
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SquashedBatch:
    """Pre-squash samples ``u`` (B, act_dim), Gaussian ``mean`` (B, act_dim), ``log_std`` (act_dim,) and bounds
    ``low``/``high`` (act_dim,). ``integrate``: the rows are one 1-D grid of ``u`` (sorted) over which the density
    of ``a`` is integrated."""

    u: torch.Tensor
    mean: torch.Tensor
    log_std: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    integrate: bool = False

    def actions(self) -> torch.Tensor:
        """a = low + (high - low) (tanh(u) + 1) / 2, float64, (B, act_dim)."""
        u = self.u.double()
        return self.low.double() + (self.high.double() - self.low.double()) * (torch.tanh(u) + 1) / 2


def _squash_grid(seed: int) -> SquashedBatch:
    """Pendulum's torque bounds [-2, 2]; u on a grid of mean +- 10 std."""
    g = generator(seed)
    mu, log_std = float(uniform(g, -1.0, 2.0, 1)), float(uniform(g, -0.5, 0.3, 1))
    std = math.exp(log_std)
    u = torch.linspace(mu - 10 * std, mu + 10 * std, 20_001)[:, None]
    return SquashedBatch(u, torch.full_like(u, mu), torch.tensor([log_std]), torch.tensor([-2.0]),
                         torch.tensor([2.0]), integrate=True)


def _squash_points(seed: int, b: int, act_dim: int, saturated: bool = False) -> SquashedBatch:
    g = generator(seed)
    low = uniform(g, -3.0, 0.0, act_dim)
    high = low + uniform(g, 0.5, 4.0, act_dim)
    mean = randn(g, b, act_dim, scale=1.5)
    log_std = uniform(g, -1.0, 0.5, act_dim)
    u = mean + log_std.exp() * randn(g, b, act_dim)
    if saturated:  # means and samples far out in the tanh's flat tails, up to |u| = 20
        sign = torch.where(torch.rand(b, act_dim, generator=g) < 0.5, -1.0, 1.0)
        mean = sign * uniform(g, 12.0, 18.0, b, act_dim)
        u = (mean + log_std.exp() * randn(g, b, act_dim)).clamp(-20.0, 20.0)
        u.view(-1)[0] = 20.0
    return SquashedBatch(u, mean, log_std, low, high)


def _tanh_cases(seed: int) -> list[Case]:
    return [
        Case("density of a on [-2, 2], integrated over a grid", _squash_grid(seed)),
        Case("6 samples, 2 action dims", _squash_points(seed + 1, 6, 2)),
        Case("64 samples, 3 action dims", _squash_points(seed + 2, 64, 3)),
        Case("samples deep in the flat tails of tanh (|u| up to 20)", _squash_points(seed + 3, 8, 2, saturated=True)),
    ]


def _tanh_probe(func, case: Case) -> Observation:
    d: SquashedBatch = case.data
    out = func(d.u.clone(), d.mean.clone(), d.log_std.clone(), d.low.clone(), d.high.clone())
    logp = as_tensor(out, "logp", (d.u.shape[0],))
    observation: Observation = {"logp": logp}
    if d.integrate:
        a = d.actions()[:, 0]
        inside = (a > d.low.double()) & (a < d.high.double())
        density = torch.where(torch.isfinite(logp), logp, torch.full_like(logp, -math.inf)).exp()
        # integral of pi(a) da over [low, high] (trapezoid rule on the image of the u grid)
        observation["integral"] = float(torch.trapezoid(density[inside], a[inside]))
    return observation


def _tanh_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: SquashedBatch = case.data
    logp, ref = got["logp"], torch.as_tensor(want["logp"], dtype=torch.float64)
    bad = ~torch.isfinite(logp)
    if bool(bad.any()):
        k = int(torch.nonzero(bad)[0])
        return (f"your log-density is {fmt(logp[k])} at u = {[round(x, 3) for x in d.u[k].tolist()]} (row {k}), "
                f"where the density of "
                f"a is a finite number (log pi = {fmt(ref[k])}): the computation breaks down in float32 for "
                "large |u|")
    if d.integrate and abs(got["integral"] - 1.0) > 2e-3:
        return (f"your density of a integrates to {got['integral']:.3f} over [{fmt(d.low[0])}, {fmt(d.high[0])}], "
                "not 1: it is not the probability density of the action the environment receives")
    # tolerance: float32 sums of terms up to ~40 in size
    if close(logp, ref, rtol=1e-4, atol=2e-4):
        return None
    k = int((logp - ref).abs().argmax())
    diff = logp - ref
    extra = "; your values are off by the same constant in every row" if float(
        (diff - diff.mean()).abs().max()) < 1e-3 else ""
    return (f"row {k} (u = {[round(x, 3) for x in d.u[k].tolist()]}): your log pi(a) is {fmt(logp[k])}, "
            f"expected {fmt(ref[k])}{extra}")


TANH_STARTER = dedent('''\
    import torch
    from torch.distributions import Normal


    def squashed_log_prob(u, mean, log_std, low, high):
        """log pi(a | s) of a tanh-squashed Gaussian policy, from the stored pre-squash sample.

        u:         (B, act_dim) pre-squash samples u ~ N(mean, exp(log_std)^2), as stored in the buffer
        mean:      (B, act_dim) Gaussian means from the actor
        log_std:   (act_dim,) log standard deviations
        low, high: (act_dim,) the action bounds; the environment receives
                   a = low + (high - low) * (tanh(u) + 1) / 2
        returns:   logp (B,): the log-density of the action a (not of u), summed over action dimensions;
                   finite and accurate in float32 for |u| up to 20
        """
        dist = Normal(mean, log_std.exp())
        return dist.log_prob(u).sum(dim=-1)
''')

TANH_REFERENCE = dedent('''\
    import math

    import torch
    import torch.nn.functional as F
    from torch.distributions import Normal


    def squashed_log_prob(u, mean, log_std, low, high):
        """log pi(a | s) of a tanh-squashed Gaussian; shapes as in the starter."""
        dist = Normal(mean, log_std.exp())
        # log |da/du| = log(1 - tanh(u)^2) + log((high - low) / 2), per action dimension, with
        # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), which stays finite for any u
        log_det = 2 * (math.log(2) - u - F.softplus(-2 * u)) + torch.log((high - low) / 2)
        # log pi(a) = log N(u; mean, std) - log |da/du|, summed over action dimensions
        return (dist.log_prob(u) - log_det).sum(dim=-1)
''')

TANH_EXPLANATION = dedent('''\
    The environment receives a = low + (high - low) * (tanh(u) + 1) / 2, not u. A density is "probability per
    unit of a", and the squashing map stretches some stretches of u and squeezes others: near the bounds a wide
    range of u lands on a sliver of a. The change of variables says p_A(a) = p_U(u) / |da/du|, so
    log pi(a) = log N(u; mean, std) - sum_j [log(1 - tanh(u_j)^2) + log((high_j - low_j) / 2)]. Without the
    correction the "density" does not integrate to 1 over the box. In PPO's ratio the correction cancels (it
    depends only on the stored u), but everywhere the number log pi itself is used - the entropy bonus, SAC's
    target, a likelihood - it is wrong. 1 - tanh(u)^2 rounds to 0 in float32 once |u| > 9, so the term is
    computed as 2 (log 2 - u - softplus(-2u)) (as SAC implementations do).
''')

_TANH_BODY = "    return dist.log_prob(u).sum(dim=-1)\n"
_TANH_IMPORTS = "import torch\nfrom torch.distributions import Normal\n"
_TANH_WITH_F = TANH_STARTER.replace(_TANH_IMPORTS, "import math\n\nimport torch\nimport torch.nn.functional as F\n"
                                    "from torch.distributions import Normal\n")
_STABLE = "2 * (math.log(2) - u - F.softplus(-2 * u))"
TANH_WRONG = (
    WrongFix(_TANH_WITH_F.replace(_TANH_BODY, f"    log_det = {_STABLE} + torch.log((high - low) / 2)\n"
                                  "    return (dist.log_prob(u) + log_det).sum(dim=-1)\n"),
             "adds the correction instead of subtracting it"),
    WrongFix(_TANH_WITH_F.replace(_TANH_BODY,
                                  "    log_det = torch.log(1 - torch.tanh(u)) + torch.log((high - low) / 2)\n"
                                  "    return (dist.log_prob(u) - log_det).sum(dim=-1)\n"),
             "log(1 - tanh(u)) instead of log(1 - tanh(u)^2)"),
    WrongFix(_TANH_WITH_F.replace(_TANH_BODY, f"    log_det = {_STABLE} + torch.log((high - low) / 2)\n"
                                  "    return dist.log_prob(u).sum(dim=-1) - log_det.sum()\n"),
             "sums the correction over the whole batch instead of over each row's action dimensions"),
    WrongFix(_TANH_WITH_F.replace(_TANH_BODY, f"    log_det = {_STABLE}\n"
                                  "    return (dist.log_prob(u) - log_det).sum(dim=-1)\n"),
             "forgets the affine part log((high - low) / 2)"),
    WrongFix(_TANH_WITH_F.replace(_TANH_BODY,
                                  "    log_det = torch.log(1 - torch.tanh(u) ** 2) + torch.log((high - low) / 2)\n"
                                  "    return (dist.log_prob(u) - log_det).sum(dim=-1)\n"),
             "the right formula computed naively: -inf in float32 once |u| > 9"),
)

# torch's TanhTransform computes the same stable log-det; a correct fix that the checker must accept
TANH_ALTERNATIVE = TANH_STARTER.replace(
    _TANH_IMPORTS, "import torch\nfrom torch.distributions import Normal, TanhTransform\n").replace(
    _TANH_BODY, "    log_det = TanhTransform().log_abs_det_jacobian(u, torch.tanh(u)) + torch.log((high - low) / 2)\n"
                "    return (dist.log_prob(u) - log_det).sum(dim=-1)\n")

TANH_HINTS = (
    "Read the docstring's `returns` line: whose density is asked for, and whose density does "
    "`dist.log_prob(u)` give? The environment never sees u.",
    "When a = f(u) with f smooth and increasing, a probability density changes with the map: "
    "p_A(a) = p_U(u) / |f'(u)|. Here f'(u) = (high - low) / 2 * (1 - tanh(u)^2), per action dimension, so subtract "
    "the log of it, summed over the action dimensions of each row. Compute log(1 - tanh(u)^2) from the identity "
    "1 - tanh(u)^2 = 4 e^(-2u) / (1 + e^(-2u))^2 in log space (torch.nn.functional.softplus(x) = log(1 + e^x)), "
    "so that it stays finite when tanh(u) rounds to 1.",
    "With `import math` and `import torch.nn.functional as F`:\n\n```python\n"
    "dist = Normal(mean, log_std.exp())\n"
    "log_det = 2 * (math.log(2) - u - F.softplus(-2 * u)) + torch.log((high - low) / 2)\n"
    "return (dist.log_prob(u) - log_det).sum(dim=-1)\n```",
)

TANH_JACOBIAN = Exercise(
    id="07.tanh_jacobian",
    title="A tanh-squashed log-probability without the Jacobian",
    func_name="squashed_log_prob",
    starter=TANH_STARTER,
    reference=TANH_REFERENCE,
    explanation=TANH_EXPLANATION,
    make_cases=_tanh_cases,
    probe=_tanh_probe,
    judge=_tanh_judge,
    wrong_fixes=TANH_WRONG,
    alternatives=(TANH_ALTERNATIVE,),
    hints=TANH_HINTS,
)


# ---------------------------------------------------------------------------------------------------------------
# 07.kl_penalty
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KLBatch:
    """Sampled tokens' log-probabilities under the policy and the reference, (B, T); rewards (B,); beta."""

    logp: torch.Tensor
    logp_ref: torch.Tensor
    reward: torch.Tensor
    beta: float

    def shaped(self, per_token: torch.Tensor) -> torch.Tensor:
        """-beta * per_token, plus the reward at the last token; float64."""
        r = -self.beta * per_token.double()
        r[:, -1] += self.reward.double()
        return r


def _kl_batch(seed: int, B: int, T: int, beta: float, same: bool = False) -> KLBatch:
    """Tokens drawn from a policy pi (a categorical per position) and scored under pi and a reference pi_ref."""
    g = generator(seed)
    logits = randn(g, B, T, 4, scale=1.5)
    ref_logits = logits if same else randn(g, B, T, 4, scale=1.5)
    log_pi, log_ref = torch.log_softmax(logits, -1), torch.log_softmax(ref_logits, -1)
    tokens = torch.multinomial(log_pi.exp().reshape(B * T, 4), 1, generator=g).reshape(B, T, 1)
    reward = torch.randint(0, 5, (B,), generator=g).to(torch.float32)
    return KLBatch(log_pi.gather(-1, tokens).squeeze(-1), log_ref.gather(-1, tokens).squeeze(-1), reward, beta)


def _kl_cases(seed: int) -> list[Case]:
    return [
        Case("a policy that moved away from the reference (B=64, T=8, beta=0.5)", _kl_batch(seed, 64, 8, 0.5)),
        Case("the policy equals the reference (B=16, T=6)", _kl_batch(seed + 1, 16, 6, 0.2, same=True)),
        Case("one sequence of three tokens (B=1, T=3, beta=2)", _kl_batch(seed + 2, 1, 3, 2.0)),
        Case("beta = 0 (B=8, T=5)", _kl_batch(seed + 3, 8, 5, 0.0)),
    ]


def _kl_probe(func, case: Case) -> Observation:
    d: KLBatch = case.data
    out = func(d.logp.clone(), d.logp_ref.clone(), d.reward.clone(), d.beta)
    return {"rewards": as_tensor(out, "your reward tensor", tuple(d.logp.shape))}


def _kl_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: KLBatch = case.data
    y = got["rewards"]
    if close(y, want["rewards"]):
        return None
    k1 = (d.logp - d.logp_ref).double()
    kl = float(k1.sum(-1).mean())  # estimate of KL(pi || pi_ref) per sequence (tokens drawn from pi)
    penalty = float((d.reward.double() - y.sum(-1)).mean())  # what the shaping takes away per sequence
    if close(y, d.shaped(-k1)):
        return (f"the tokens were drawn from the policy, and the KL estimate per sequence averages "
                f"{fmt(kl)} nats here, yet your rewards sum to R(y) plus {fmt(-penalty)} on average: the "
                "penalty pays the policy for moving away from the reference instead of charging it")
    if close(y.sum(-1), d.shaped(k1).sum(-1)):
        return ("each sequence's rewards add up to the right total, but not token by token: the docstring asks "
                "for the penalty of each token at that token and R(y) at the last one")
    if abs(penalty) > 1e-6 and abs(penalty - d.beta * kl) > 1e-4 * max(1.0, abs(d.beta * kl)):
        return (f"on average your shaping takes {fmt(penalty)} away from each sequence's reward, but beta times "
                f"the KL estimate is {fmt(d.beta * kl)}: the penalty does not measure KL(pi || pi_ref) on these "
                "samples")
    problem = mismatch(y, want["rewards"], "rewards")
    return problem + "; compare with the docstring's definition of r_t"


KL_STARTER = dedent('''\
    import torch


    def shaped_rewards(logp, logp_ref, reward, beta):
        """Per-token rewards for PPO on a language model, with the KL penalty to the frozen reference.

        logp:     (B, T) log pi(y_t | y_<t) of the sampled tokens under the policy, which drew them
        logp_ref: (B, T) log pi_ref(y_t | y_<t) of the same tokens under the reference
        reward:   (B,) the sequence reward R(y), paid at the last token
        beta:     weight of the penalty, >= 0
        returns:  (B, T) r_t = -beta * kl_t, plus R(y) at t = T - 1, where kl_t is the single-sample
                  (k1) estimate of the per-token KL(pi || pi_ref); summed over t it estimates the KL
                  between the policy's and the reference's sequence distributions
        """
        kl = logp_ref - logp
        rewards = -beta * kl
        rewards[:, -1] += reward
        return rewards
''')

KL_REFERENCE = dedent('''\
    import torch


    def shaped_rewards(logp, logp_ref, reward, beta):
        """Per-token KL-shaped rewards; shapes as in the starter."""
        # k1_t = log pi(y_t|y_<t) - log pi_ref(y_t|y_<t): its mean over y ~ pi is KL(pi || pi_ref)
        kl = logp - logp_ref
        rewards = -beta * kl
        rewards[:, -1] += reward
        return rewards
''')

KL_EXPLANATION = dedent('''\
    KL(pi || pi_ref) = E_{y ~ pi}[log pi(y) - log pi_ref(y)]: the expectation is over the distribution that drew
    the tokens (the policy), and the log-ratio has the policy on top. Written the other way round,
    log pi_ref - log pi averages to minus the KL on samples from pi (it is not KL(pi_ref || pi) either: that
    would need samples from pi_ref). So the "penalty" becomes a bonus for every token the policy likes more
    than the reference did, and fine-tuning is pushed away from the reference instead of held near it: the
    reward hacking the term was meant to stop. Summed over tokens, the k1 values estimate the sequence KL
    (chain rule), which is why each token carries its own share of the penalty (Ziegler et al. 2019).
''')

_KL_LINE = "    kl = logp_ref - logp\n"
KL_WRONG = (
    WrongFix(KL_STARTER.replace(_KL_LINE, "    kl = (logp_ref - logp).abs()\n"),
             "takes the absolute value: never negative, but biased upwards"),
    WrongFix(KL_STARTER.replace(_KL_LINE, "    kl = torch.exp(logp) * (logp - logp_ref)\n"),
             "weights the sampled token's log-ratio by its probability, as in the exact KL's sum"),
    WrongFix(KL_STARTER.replace(_KL_LINE,
                                "    kl = (logp - logp_ref).sum(dim=1, keepdim=True) * torch.ones_like(logp)\n"),
             "sums over the wrong axis: charges every token the whole sequence's KL"),
    WrongFix(KL_STARTER.replace(_KL_LINE + "    rewards = -beta * kl\n",
                                "    rewards = torch.zeros_like(logp)\n"
                                "    rewards[:, -1] = -beta * (logp - logp_ref).sum(dim=1)\n"),
             "the whole penalty at the last token: right totals, wrong per-token rewards"),
)

KL_HINTS = (
    "Look at the line that computes `kl`. Which distribution drew the tokens, and which distribution's "
    "probability should be in the numerator of the log-ratio of KL(pi || pi_ref)?",
    "KL(p || q) = E_{y ~ p}[log p(y) - log q(y)]: the sampling distribution p is the one on top. Here the "
    "tokens come from the policy, so on these samples kl_t must be positive on average when the policy has "
    "moved, and the shaped rewards must then sum to less than R(y).",
    "`kl = logp - logp_ref`.",
)

KL_PENALTY = Exercise(
    id="07.kl_penalty",
    title="A language model's KL penalty on the wrong distribution",
    func_name="shaped_rewards",
    starter=KL_STARTER,
    reference=KL_REFERENCE,
    explanation=KL_EXPLANATION,
    make_cases=_kl_cases,
    probe=_kl_probe,
    judge=_kl_judge,
    wrong_fixes=KL_WRONG,
    hints=KL_HINTS,
)

EXERCISES = (GYMNASIUM_API, TRUNCATION_BOOTSTRAP, STORE_UNCLIPPED, TANH_JACOBIAN, KL_PENALTY)
