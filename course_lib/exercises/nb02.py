"""Notebook 02 (beyond Q-learning): argmax over a continuous action space, and a Q target past a terminal state."""
from __future__ import annotations

import math
from dataclasses import dataclass
from textwrap import dedent

import torch

from .compare import as_tensor, close, fmt, mismatch
from .core import Case, CheckFailure, Exercise, Observation, WrongFix
from .inputs import flags, generator, randn, uniform


# ---------------------------------------------------------------------------------------------------------------
# 02.continuous_sampling
# ---------------------------------------------------------------------------------------------------------------
class LinearGaussianActor(torch.nn.Module):
    """mean = obs @ W + b, with a state-independent ``log_std`` parameter (act_dim,)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, log_std: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight.clone())
        self.bias = torch.nn.Parameter(bias.clone())
        self.log_std = torch.nn.Parameter(log_std.clone())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs @ self.weight + self.bias


@dataclass(frozen=True)
class GaussianSetup:
    """A linear Gaussian actor and a batch of ``n_states`` distinct states, each repeated ``repeats`` times."""

    weight: torch.Tensor   # (obs_dim, act_dim)
    bias: torch.Tensor     # (act_dim,)
    log_std: torch.Tensor  # (act_dim,)
    states: torch.Tensor   # (n_states, obs_dim)
    repeats: int
    torch_seed: int

    def obs(self) -> torch.Tensor:
        """(n_states * repeats, obs_dim): state k fills rows k * repeats ... (k + 1) * repeats - 1."""
        return self.states.repeat_interleave(self.repeats, dim=0)

    def mean(self) -> torch.Tensor:
        """(n_states, act_dim) true means, float64."""
        return self.states.double() @ self.weight.double() + self.bias.double()

    def std(self) -> torch.Tensor:
        """(act_dim,) true standard deviations, float64."""
        return self.log_std.double().exp()


def _gaussian_setup(seed: int, near_bound: bool) -> GaussianSetup:
    g = generator(seed)
    obs_dim, act_dim, n_states = 3, 2, 4
    bias = torch.tensor([0.9, -0.9]) if near_bound else randn(g, act_dim, scale=0.3)
    return GaussianSetup(
        weight=randn(g, obs_dim, act_dim, scale=0.1 if near_bound else 0.5),
        bias=bias,
        log_std=torch.tensor([-0.5, 0.2]) + uniform(g, -0.1, 0.1, act_dim),
        states=randn(g, n_states, obs_dim),
        repeats=2000,
        torch_seed=seed % (2**31),
    )


def _sampling_cases(seed: int) -> list[Case]:
    return [
        Case("random states", _gaussian_setup(seed, near_bound=False)),
        Case("means near the action bounds +-1", _gaussian_setup(seed + 1, near_bound=True)),
    ]


# Probability that |X - mu| < sigma for a Gaussian X: erf(1 / sqrt(2)).
ONE_SIGMA = math.erf(1 / math.sqrt(2))


def _action_batch(out, n: int, act_dim: int) -> torch.Tensor:
    """The learner's (n, act_dim) actions; one value per state instead gets a hint on what that suggests."""
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (n,):
        kind = "real number" if out.is_floating_point() else f"integer ({out.dtype})"
        raise CheckFailure(f"your action batch has shape ({n},), one {kind} per state; expected ({n}, {act_dim}), "
                           "an action vector per state: that looks like the index of one action from a list, "
                           "but a continuous action space has no list of actions")
    return as_tensor(out, "your action batch", (n, act_dim))


def _sampling_probe(func, case: Case) -> Observation:
    d: GaussianSetup = case.data
    actor = LinearGaussianActor(d.weight, d.bias, d.log_std)
    obs = d.obs()
    n_states, act_dim = d.states.shape[0], d.bias.shape[0]
    with torch.random.fork_rng(devices=[]):  # seed the learner's sampling without touching their RNG state
        torch.manual_seed(d.torch_seed)
        first = _action_batch(func(actor, obs.clone()), obs.shape[0], act_dim)
        second = _action_batch(func(actor, obs.clone()), obs.shape[0], act_dim)
    if not bool(torch.isfinite(first).all()):
        raise CheckFailure("your actions contain NaN or inf")
    a = first.reshape(n_states, d.repeats, act_dim)
    z = (a - d.mean()[:, None, :]) / d.std()
    return {
        "sample_mean": a.mean(dim=1),                       # (n_states, act_dim)
        "sample_std": a.std(dim=1),                         # (n_states, act_dim)
        "within_one_std": (z.abs() < 1).double().mean(dim=1),  # (n_states, act_dim)
        "changes_between_calls": bool((first != second).any()),
    }


def _sampling_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: GaussianSetup = case.data
    n = d.repeats
    mean, std = d.mean(), d.std()[None, :].expand_as(d.mean())
    sample_mean = torch.as_tensor(got["sample_mean"], dtype=torch.float64)
    sample_std = torch.as_tensor(got["sample_std"], dtype=torch.float64)
    within = torch.as_tensor(got["within_one_std"], dtype=torch.float64)
    if not got["changes_between_calls"]:
        return ("two calls on the same states returned identical actions: your actions are a fixed function of "
                "the state, so an agent using them would never explore")
    # 6 standard errors: a correct sampler fails one of these 24 comparisons with probability ~ 1e-7
    off = (sample_std / std - 1).abs()
    if bool((off > 6 / math.sqrt(2 * n)).any()):
        k = int(off.flatten().argmax())
        return (f"the spread (standard deviation) of your actions in one state is {fmt(sample_std.flatten()[k])}, "
                f"but the policy's standard deviation exp(log_std) there is {fmt(std.flatten()[k])}")
    off = (sample_mean - mean).abs() / std
    if bool((off > 6 / math.sqrt(n)).any()):
        k = int(off.flatten().argmax())
        return (f"the average of your actions in one state is {fmt(sample_mean.flatten()[k])}, but the actor's "
                f"mean output there is {fmt(mean.flatten()[k])}")
    se = math.sqrt(ONE_SIGMA * (1 - ONE_SIGMA) / n)
    off = (within - ONE_SIGMA).abs()
    if bool((off > 6 * se).any()):
        k = int(off.flatten().argmax())
        return (f"the share of your actions within one standard deviation of the mean is "
                f"{fmt(within.flatten()[k])}, not {ONE_SIGMA:.3f} as for a Gaussian: the noise has another shape")
    return None


SAMPLING_STARTER = dedent('''\
    import torch


    def select_action(actor, obs):
        """Pick actions for a continuous (Box) action space.

        actor:   module mapping (B, obs_dim) observations to (B, act_dim) action means; actor.log_std is a
                 (act_dim,) parameter, the log standard deviation of each action dimension
        obs:     (B, obs_dim) observations
        returns: (B, act_dim) actions sampled from the Gaussian policy N(mean, exp(log_std)^2), not clipped
        """
        scores = actor(obs)
        return torch.argmax(scores, dim=-1)  # pick the best action
''')

SAMPLING_REFERENCE = dedent('''\
    import torch
    from torch.distributions import Normal


    def select_action(actor, obs):
        """Sample (B, act_dim) actions from N(mean, std^2); shapes as in the starter."""
        mean = actor(obs)
        std = actor.log_std.exp()
        # a ~ N(mean, std^2), independently in each action dimension; no clipping here
        return Normal(mean, std).sample()
''')

SAMPLING_EXPLANATION = dedent('''\
    argmax belongs to a *finite* set of actions: it returns the index of the largest entry, so here it turned
    a (B, act_dim) vector of means into (B,) indices that are not actions at all. In a continuous action space
    there is nothing to take a maximum over; a stochastic actor outputs the parameters of a distribution
    instead. The usual quick fix `actor(obs).sample()` fails too: the actor returns a tensor (the mean), which
    has no .sample(). Build the distribution first, Normal(mean, exp(log_std)), then sample. Keep the sample
    as it is for the rollout buffer (its log-probability is what PPO's ratio needs) and clip only the copy
    you send to env.step.
''')

_ARGMAX = "    scores = actor(obs)\n    return torch.argmax(scores, dim=-1)  # pick the best action\n"
SAMPLING_WRONG = (
    WrongFix(SAMPLING_STARTER.replace(_ARGMAX, "    return actor(obs)\n"),
             "returns the mean: deterministic, no exploration"),
    WrongFix(SAMPLING_STARTER.replace(_ARGMAX, "    from torch.distributions import Normal\n"
                                               "    return Normal(actor(obs), actor.log_std).sample()\n"),
             "uses log_std as the standard deviation"),
    WrongFix(SAMPLING_STARTER.replace(_ARGMAX, "    from torch.distributions import Normal\n"
                                               "    a = Normal(actor(obs), actor.log_std.exp()).sample()\n"
                                               "    return torch.clamp(a, -1.0, 1.0)\n"),
             "clips the stored sample to the action bounds"),
    WrongFix(SAMPLING_STARTER.replace(_ARGMAX, "    mean = actor(obs)\n"
                                               "    return mean + torch.rand_like(mean) * actor.log_std.exp()\n"),
             "uniform noise in [0, std) instead of Gaussian noise"),
    WrongFix(SAMPLING_STARTER.replace(_ARGMAX, "    from torch.distributions import Normal\n"
                                               "    return Normal(actor(obs), actor.log_std.exp() ** 2).sample()\n"),
             "passes the variance where Normal expects the standard deviation"),
)

SAMPLING_HINTS = (
    "Look at what `torch.argmax` returns: the *index* of the largest entry, one integer per row. In a "
    "continuous action space an action is a vector of act_dim real numbers, and there is no finite list of "
    "actions to pick the best one from. What does the docstring say an action should be drawn from?",
    "A stochastic policy for a Box action space is a distribution: a Gaussian whose mean is `actor(obs)` and "
    "whose standard deviation is exp(`actor.log_std`). An action is one draw from it, different on every "
    "call. The actor's output is a plain tensor of means, so build the distribution object first.",
    "`mean = actor(obs)`, `std = actor.log_std.exp()`, then `return Normal(mean, std).sample()` "
    "(with `from torch.distributions import Normal`). Do not clip the sample here.",
)

CONTINUOUS_SAMPLING = Exercise(
    id="02.continuous_sampling",
    title="argmax over a continuous action space",
    func_name="select_action",
    starter=SAMPLING_STARTER,
    reference=SAMPLING_REFERENCE,
    explanation=SAMPLING_EXPLANATION,
    make_cases=_sampling_cases,
    probe=_sampling_probe,
    judge=_sampling_judge,
    wrong_fixes=SAMPLING_WRONG,
    hints=SAMPLING_HINTS,
)


# ---------------------------------------------------------------------------------------------------------------
# 02.terminal_bootstrap
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QBatch:
    """Rewards (B,), next-state action values (B, A), terminal flags (B,) and gamma."""

    reward: torch.Tensor
    next_q: torch.Tensor
    terminated: torch.Tensor
    gamma: float

    def target(self, mask: torch.Tensor | None = None, reduce: str = "max") -> torch.Tensor:
        """r + gamma * reduce_a' Q(s', a') * mask, float64 (mask defaults to 1 - terminated)."""
        mask = 1 - self.terminated.double() if mask is None else mask
        q = self.next_q.double()
        best = q.max(dim=1).values if reduce == "max" else q.mean(dim=1)
        return self.reward.double() + self.gamma * best * mask


def _q_batch(seed: int, batch: int, gamma: float, terminated: str) -> QBatch:
    g = generator(seed)
    term = {"mixed": flags(g, 0.4, batch), "all": torch.ones(batch), "none": torch.zeros(batch)}[terminated]
    if terminated == "mixed" and batch >= 2:
        term[0], term[1] = 1.0, 0.0
    return QBatch(randn(g, batch), randn(g, batch, 3, scale=2.0, shift=-1.0), term, gamma)


def _q_cases(seed: int) -> list[Case]:
    return [
        Case("random batch", _q_batch(seed, 16, 0.9, "mixed")),
        Case("every next state terminal", _q_batch(seed + 1, 5, 0.99, "all")),
        Case("gamma = 1, no terminal state", _q_batch(seed + 2, 6, 1.0, "none")),
        Case("one transition", _q_batch(seed + 3, 1, 0.9, "all")),
    ]


def _q_probe(func, case: Case) -> Observation:
    d: QBatch = case.data
    out = func(d.reward.clone(), d.next_q.clone(), d.terminated.clone(), d.gamma)
    return {"targets": as_tensor(out, "your targets", tuple(d.reward.shape))}


def _q_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: QBatch = case.data
    y = got["targets"]
    if close(y, want["targets"]):
        return None
    w = torch.as_tensor(want["targets"], dtype=torch.float64)
    k = _first_difference(y, w, d.terminated > 0)
    ones = torch.ones_like(d.reward, dtype=torch.float64)
    if close(y, d.target(mask=ones)):
        return (f"at a terminal transition (index {k}) your target is {fmt(y[k])}, expected {fmt(w[k])}, the "
                "reward alone: nothing follows the end of an episode, yet your target still adds the discounted "
                "value of the best next action")
    if close(y, d.target(mask=ones) * (1 - d.terminated.double())):
        return (f"at a terminal transition (index {k}) your target is {fmt(y[k])}, expected the reward "
                f"{fmt(w[k])}: the episode's last reward was dropped as well")
    if close(y, d.target(mask=d.terminated.double())):
        k = _first_difference(y, w)
        return (f"target[{k}] is {fmt(y[k])}, expected {fmt(w[k])}: your targets bootstrap exactly where "
                "terminated == 1 and stop where it is 0")
    if close(y, d.target(reduce="mean")):
        return ("your targets use the average of Q(s', .) over the next actions; the docstring's target uses the "
                "best next action")
    problem = mismatch(y, w, "target")
    return problem + "; compare with the target y_t in the docstring"


def _first_difference(got: torch.Tensor, want: torch.Tensor, where: torch.Tensor | None = None) -> int:
    """The first index (flat) where ``got`` and ``want`` differ, preferring indices where ``where`` holds."""
    bad = ~torch.isclose(torch.as_tensor(got, dtype=torch.float64).flatten(), want.flatten(), rtol=1e-4, atol=1e-5)
    if where is not None and bool((bad & where.flatten()).any()):
        bad = bad & where.flatten()
    return int(bad.nonzero()[0]) if bool(bad.any()) else 0


Q_STARTER = dedent('''\
    import torch


    def q_targets(reward, next_q, terminated, gamma):
        """One-step Q-learning targets y_t = r_t + gamma * max_a' Q(s_{t+1}, a'), with no bootstrap after the end.

        reward:     (B,) rewards r_t
        next_q:     (B, A) Q(s_{t+1}, .) for every action (constants)
        terminated: (B,) 1.0 where s_{t+1} is terminal (the task ended; nothing follows), else 0.0
        gamma:      discount in [0, 1]
        returns:    (B,) targets
        """
        return reward + gamma * next_q.max(dim=1).values
''')

Q_REFERENCE = dedent('''\
    import torch


    def q_targets(reward, next_q, terminated, gamma):
        """(B,) Q-learning targets; shapes as in the starter."""
        # y_t = r_t + gamma * max_a' Q(s_{t+1}, a') * (1 - terminated_t)
        return reward + gamma * next_q.max(dim=1).values * (1.0 - terminated)
''')

Q_EXPLANATION = dedent('''\
    The value of a terminal state is 0 by definition: no reward follows it. The starter bootstrapped from
    max Q(s', .) anyway, so every episode end taught the agent that "game over" is worth whatever its
    network happens to output there, and that error propagates backwards through every earlier target.
    Multiply only the bootstrap term by (1 - terminated); the last reward still counts. (A time-limit
    truncation is different: the state still has a value, so there you keep the bootstrap - see notebook 07.)
''')

_Q_RETURN = "    return reward + gamma * next_q.max(dim=1).values\n"
Q_WRONG = (
    WrongFix(Q_STARTER.replace(_Q_RETURN,
                               "    return (reward + gamma * next_q.max(dim=1).values) * (1 - terminated)\n"),
             "masks the reward too"),
    WrongFix(Q_STARTER.replace(_Q_RETURN, "    return reward + gamma * next_q.max(dim=1)[1] * (1 - terminated)\n"),
             "uses the argmax indices instead of the max values"),
    WrongFix(Q_STARTER.replace(_Q_RETURN, "    return reward + gamma * next_q.mean(dim=1) * (1 - terminated)\n"),
             "averages over next actions (expected SARSA with a uniform policy), not Q-learning"),
    WrongFix(Q_STARTER.replace(_Q_RETURN, "    return reward + gamma * next_q.max() * (1 - terminated)\n"),
             "max over the whole batch instead of per row"),
    WrongFix(Q_STARTER.replace(_Q_RETURN, "    return reward + gamma * next_q.max(dim=1).values * terminated\n"),
             "inverted mask"),
)

Q_HINTS = (
    "Look at the transitions with terminated == 1. What should the target be when s_{t+1} ends the episode, "
    "and does the `return` line ever read the `terminated` argument?",
    "Only the bootstrap term gamma * max_a' Q(s', a') must vanish at a terminal step; the reward r still "
    "counts. The flag is 1.0 or 0.0, so a multiplication can switch that one term off where the episode ended.",
    "`return reward + gamma * next_q.max(dim=1).values * (1.0 - terminated)`.",
)

TERMINAL_BOOTSTRAP = Exercise(
    id="02.terminal_bootstrap",
    title="A Q target that bootstraps past the end",
    func_name="q_targets",
    starter=Q_STARTER,
    reference=Q_REFERENCE,
    explanation=Q_EXPLANATION,
    make_cases=_q_cases,
    probe=_q_probe,
    judge=_q_judge,
    wrong_fixes=Q_WRONG,
    hints=Q_HINTS,
)

EXERCISES = (CONTINUOUS_SAMPLING, TERMINAL_BOOTSTRAP)
