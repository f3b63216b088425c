"""Notebook 01 (actor-critic basics): a critic left attached to the actor loss, and a loss with the wrong sign."""
from __future__ import annotations

from dataclasses import dataclass
from textwrap import dedent

import torch

from .compare import close, fmt, grad_or_zeros, mismatch, scalar_loss
from .core import Case, Exercise, Observation, WrongFix
from .inputs import flags, generator, randn


# ---------------------------------------------------------------------------------------------------------------
# 01.detach_critic
# ---------------------------------------------------------------------------------------------------------------
class LinearCritic(torch.nn.Module):
    """V(s) = s . w + b: maps (B, obs_dim) observations to (B,) values (a stand-in for a critic network)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight.clone())
        self.bias = torch.nn.Parameter(bias.clone())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs @ self.weight + self.bias


@dataclass(frozen=True)
class ACBatch:
    """One batch of transitions for the actor loss; tensors are (B,) or (B, obs_dim)."""

    logp: torch.Tensor
    obs: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    gamma: float
    weight: torch.Tensor
    bias: torch.Tensor

    def values(self, obs: torch.Tensor) -> torch.Tensor:
        """V(obs) in float64, for judges."""
        return obs.double() @ self.weight.double() + self.bias.double()

    def td_error(self) -> torch.Tensor:
        """delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t), float64."""
        return (self.reward.double() + self.gamma * self.values(self.next_obs) * (1 - self.terminated.double())
                - self.values(self.obs))


def _ac_batch(seed: int, batch: int, gamma: float, terminated: str) -> ACBatch:
    g = generator(seed)
    obs_dim = 3
    term = {"mixed": flags(g, 0.3, batch), "all": torch.ones(batch), "none": torch.zeros(batch)}[terminated]
    if terminated == "mixed" and batch >= 2:
        term[0], term[1] = 1.0, 0.0
    return ACBatch(
        logp=-randn(g, batch).abs() - 0.1,
        obs=randn(g, batch, obs_dim),
        reward=randn(g, batch, shift=0.5),
        next_obs=randn(g, batch, obs_dim),
        terminated=term,
        gamma=gamma,
        weight=randn(g, obs_dim),
        bias=randn(g, 1).reshape(()) + 1.0,
    )


def _detach_cases(seed: int) -> list[Case]:
    return [
        Case("random batch", _ac_batch(seed, 8, 0.9, "mixed")),
        Case("every next state terminal", _ac_batch(seed + 1, 4, 0.99, "all")),
        Case("gamma = 0", _ac_batch(seed + 2, 5, 0.0, "none")),
        Case("one transition", _ac_batch(seed + 3, 1, 0.5, "none")),
    ]


def _detach_probe(func, case: Case) -> Observation:
    d: ACBatch = case.data
    critic = LinearCritic(d.weight, d.bias)
    logp = d.logp.clone().requires_grad_(True)
    out = func(logp, critic, d.obs.clone(), d.reward.clone(), d.next_obs.clone(), d.terminated.clone(), d.gamma)
    loss = scalar_loss(out)
    if loss.requires_grad:
        loss.backward()
    critic_grad = sum(float(grad_or_zeros(p).abs().sum()) for p in critic.parameters())
    return {"loss": float(loss.detach()), "logp_grad": grad_or_zeros(logp), "critic_grad": critic_grad}


def _detach_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: ACBatch = case.data
    if got["critic_grad"] > 1e-6:
        return (f"calling backward() on your loss put gradient into the critic's parameters (sum of |grad| = "
                f"{fmt(got['critic_grad'])}, expected 0): this loss would train the critic to please the actor")
    value_weighted = -(d.logp.double() * d.values(d.obs)).mean()
    if close(got["loss"], value_weighted) and not close(want["loss"], value_weighted):
        return (f"your loss is {fmt(got['loss'])}, expected {fmt(want['loss'])}; it equals -mean(V(s) * log pi): "
                "each log pi is weighted by how good its state is, the same number for every action taken there, "
                "so the weight cannot tell a better-than-expected action from a worse one")
    if close(got["loss"], -want["loss"]) and not close(want["loss"], 0.0):
        return (f"your loss is {fmt(got['loss'])}, the exact negative of the expected {fmt(want['loss'])}: "
                "a descent step on it makes better-than-expected actions less likely")
    no_mask = -(d.logp.double() * (d.reward.double() + d.gamma * d.values(d.next_obs) - d.values(d.obs))).mean()
    if close(got["loss"], no_mask) and not close(want["loss"], no_mask):
        return (f"your loss is {fmt(got['loss'])}, expected {fmt(want['loss'])}; it matches a weight that still "
                "counts gamma * V(s') after transitions whose next state is terminal, where nothing follows")
    problem = mismatch(got["loss"], want["loss"], "the loss")
    if problem:
        return problem + "; the weight of log pi in your loss differs from an estimate of the advantage"
    problem = mismatch(got["logp_grad"], want["logp_grad"], "d loss / d logp")
    if problem:
        return problem + "; your loss has the right value but not the right gradient with respect to log pi"
    return None


DETACH_STARTER = dedent('''\
    import torch


    def actor_loss(logp, critic, obs, reward, next_obs, terminated, gamma):
        """One-step actor-critic loss for the actor (to be minimised).

        logp:       (B,) log pi(a_t | s_t) of the actions taken; carries gradients to the actor
        critic:     module mapping (B, obs_dim) observations to (B,) values V(s)
        obs:        (B, obs_dim) states s_t
        reward:     (B,) rewards r_t
        next_obs:   (B, obs_dim) next states s_{t+1}
        terminated: (B,) 1.0 where s_{t+1} ends the episode (no value after it), else 0.0
        gamma:      discount factor in [0, 1]
        returns:    scalar tensor; its gradient must reach the actor (through logp) and never the critic
        """
        value = critic(obs)
        return -(logp * value).mean()
''')

DETACH_REFERENCE = dedent('''\
    import torch


    def actor_loss(logp, critic, obs, reward, next_obs, terminated, gamma):
        """One-step actor-critic loss for the actor (to be minimised); shapes as in the starter."""
        with torch.no_grad():  # the critic's values are constants for the actor
            # delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
            delta = reward + gamma * critic(next_obs) * (1.0 - terminated) - critic(obs)
        # L_actor = -mean_t( delta_t * log pi(a_t | s_t) )
        return -(logp * delta).mean()
''')

DETACH_EXPLANATION = dedent('''\
    Two things were wrong. (1) critic(obs) was part of the autograd graph, so loss.backward() also pushed the
    critic's parameters in whatever direction makes the *actor's* loss smaller - the critic is then trained to
    please the actor instead of predicting returns. Computing the weight under torch.no_grad() (or calling
    .detach()) cuts that path. (2) Detaching alone, as the usual quick fix does, still weights log pi by V(s):
    that number says how good the state is, the same for every action taken there, so it cannot tell good
    actions from bad ones. The weight must be an advantage estimate; the one-step TD error
    delta = r + gamma * V(s') * (1 - terminated) - V(s) is the simplest, with no bootstrap after a terminal state.
''')

DETACH_WRONG = (
    WrongFix(DETACH_STARTER.replace("return -(logp * value).mean()", "return -(logp * value.detach()).mean()"),
             "detaches V(s) but still uses it as the weight (errata 9): no advantage"),
    WrongFix(DETACH_STARTER.replace(
        "    value = critic(obs)\n    return -(logp * value).mean()",
        "    delta = reward + gamma * critic(next_obs) * (1.0 - terminated) - critic(obs)\n"
        "    return -(logp * delta).mean()"),
        "uses the TD error but forgets to detach it: gradient leaks into the critic"),
    WrongFix(DETACH_STARTER.replace(
        "    value = critic(obs)\n    return -(logp * value).mean()",
        "    delta = reward + gamma * critic(next_obs) - critic(obs)\n"
        "    return -(logp * delta.detach()).mean()"),
        "bootstraps past terminal states"),
    WrongFix(DETACH_STARTER.replace(
        "    value = critic(obs)\n    return -(logp * value).mean()",
        "    delta = reward + gamma * critic(next_obs) * (1.0 - terminated) - critic(obs)\n"
        "    return (logp * delta.detach()).mean()"),
        "right weight, wrong sign"),
)

DETACH_HINTS = (
    "Look at the line that computes the weight of `logp`, `value = critic(obs)`. Two questions: does autograd "
    "track that value, so that `loss.backward()` also reaches the critic's parameters? And does V(s) say "
    "whether the action taken was better or worse than expected, or only how good the state is?",
    "The actor's weight must be a constant for autograd, and it must be an advantage estimate. For a single "
    "transition the one-step TD error compares what happened, r + gamma * V(s'), with what the critic "
    "expected, V(s); after a terminal next state nothing is bootstrapped. Computing it without gradient "
    "tracking keeps the critic out of this loss.",
    "Compute the TD error inside `with torch.no_grad():` (or call `.detach()` on it): "
    "`delta = reward + gamma * critic(next_obs) * (1.0 - terminated) - critic(obs)`, then "
    "`return -(logp * delta).mean()`.",
)

DETACH_CRITIC = Exercise(
    id="01.detach_critic",
    title="The critic leaks into the actor loss",
    func_name="actor_loss",
    starter=DETACH_STARTER,
    reference=DETACH_REFERENCE,
    explanation=DETACH_EXPLANATION,
    make_cases=_detach_cases,
    probe=_detach_probe,
    judge=_detach_judge,
    wrong_fixes=DETACH_WRONG,
    hints=DETACH_HINTS,
)


# ---------------------------------------------------------------------------------------------------------------
# 01.loss_sign
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PGBatch:
    """Logits (B, A), actions (B,) and advantages (B,) for a categorical policy-gradient loss."""

    logits: torch.Tensor
    actions: torch.Tensor
    adv: torch.Tensor

    def logp(self) -> torch.Tensor:
        """log pi(a_t | s_t), float64, (B,)."""
        return torch.log_softmax(self.logits.double(), dim=-1).gather(1, self.actions[:, None]).squeeze(1)


def _pg_batch(seed: int, batch: int, adv_sign: int) -> PGBatch:
    g = generator(seed)
    n_actions = 4
    adv = randn(g, batch, scale=2.0)
    if adv_sign:
        adv = adv.abs() * adv_sign + 0.1 * adv_sign
    return PGBatch(randn(g, batch, n_actions), torch.randint(n_actions, (batch,), generator=g), adv)


def _sign_cases(seed: int) -> list[Case]:
    return [
        Case("random batch", _pg_batch(seed, 16, 0)),
        Case("all advantages negative", _pg_batch(seed + 1, 6, -1)),
        Case("all advantages positive", _pg_batch(seed + 2, 6, +1)),
        Case("one sample", _pg_batch(seed + 3, 1, 0)),
    ]


def _sign_probe(func, case: Case) -> Observation:
    d: PGBatch = case.data
    logits = d.logits.clone().requires_grad_(True)
    loss = scalar_loss(func(logits, d.actions.clone(), d.adv.clone()))
    if loss.requires_grad:
        loss.backward()
    return {"loss": float(loss.detach()), "logits_grad": grad_or_zeros(logits)}


def _sign_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: PGBatch = case.data
    opposite = close(got["loss"], -want["loss"]) and close(got["logits_grad"], -want["logits_grad"])
    if opposite and not close(want["loss"], 0.0):
        return (f"your loss is {fmt(got['loss'])} where {fmt(want['loss'])} was expected, and its gradient is the "
                "exact opposite of the expected one: each optimiser step on it makes actions with a positive "
                "advantage less likely")
    if close(got["loss"], abs(want["loss"])) and not close(want["loss"], abs(want["loss"])):
        return (f"your loss is {fmt(got['loss'])}, expected {fmt(want['loss'])}: it has the expected size but is "
                "never negative, although the objective's value depends on the advantages' signs (only the "
                "gradient of a loss matters, not whether it is positive)")
    batch = d.adv.numel()
    if batch > 1 and close(got["loss"], batch * want["loss"]):
        return (f"your loss is {batch} times the expected value, one factor per sample: the step size would "
                "grow with the batch size")
    if close(got["loss"], -(d.logp().exp() * d.adv.double()).mean()):
        return ("your loss matches -mean(A_t * pi(a_t | s_t)): it weights probabilities, where the docstring's "
                "J is built from log-probabilities")
    problem = mismatch(got["loss"], want["loss"], "the loss")
    if problem:
        return problem + "; compare your loss with the docstring's J = mean_t(A_t * log pi(a_t | s_t))"
    problem = mismatch(got["logits_grad"], want["logits_grad"], "d loss / d logits")
    return None if problem is None else problem + "; the loss has the right value but not the right gradient"


SIGN_STARTER = dedent('''\
    import torch


    def policy_loss(logits, actions, adv):
        """Policy-gradient loss for a categorical policy, to be minimised by a torch optimiser.

        logits:  (B, A) unnormalised action scores of pi(. | s_t)
        actions: (B,) int64 actions taken
        adv:     (B,) advantages A_t (constants)
        returns: scalar tensor L such that a gradient *descent* step on L is a gradient *ascent* step on
                 J = mean_t( A_t * log pi(a_t | s_t) )
        """
        logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
        return (logp * adv).mean()
''')

SIGN_REFERENCE = dedent('''\
    import torch


    def policy_loss(logits, actions, adv):
        """Policy-gradient loss for a categorical policy (to be minimised); shapes as in the starter."""
        # log pi(a_t | s_t) via log-softmax (numerically safe)
        logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
        # L = -J = -mean_t( A_t * log pi(a_t | s_t) ): descending L ascends J
        return -(logp * adv).mean()
''')

SIGN_EXPLANATION = dedent('''\
    Torch optimisers take steps *down* the gradient of whatever you call backward() on. We want to go *up* J,
    the advantage-weighted log-likelihood, so the loss is -J. With +J every update lowers the probability of the
    actions that did better than expected: returns fall while the code runs without any error. The sign is
    easy to check: after one optimiser step, pi(a|s) of an action with a positive advantage must have grown.
''')

SIGN_WRONG = (
    WrongFix(SIGN_STARTER.replace("return (logp * adv).mean()", "return (logp * adv).mean().abs()"),
             "makes the loss positive instead of negating it (right only when J < 0)"),
    WrongFix(SIGN_STARTER.replace("return (logp * adv).mean()", "return -(logp.exp() * adv).mean()"),
             "weights probabilities instead of log-probabilities"),
    WrongFix(SIGN_STARTER.replace("return (logp * adv).mean()", "return -(logp * adv).sum()"),
             "sum instead of mean"),
    WrongFix(SIGN_STARTER.replace("return (logp * adv).mean()", "return -(logp.mean() * adv.mean())"),
             "product of means instead of mean of products"),
)

SIGN_HINTS = (
    "Look at the `return` line and at what the optimiser does with it: `loss.backward()` followed by "
    "`optimizer.step()` always moves the parameters *down* the loss's gradient. After one such step on your "
    "loss, does an action with a positive advantage become more likely or less likely?",
    "The docstring asks for a loss L whose descent is an ascent on J = mean_t(A_t * log pi(a_t | s_t)). "
    "Which simple transformation of J makes going down L the same as going up J?",
    "Return minus J: `return -(logp * adv).mean()`.",
)

LOSS_SIGN = Exercise(
    id="01.loss_sign",
    title="The update descends the objective",
    func_name="policy_loss",
    starter=SIGN_STARTER,
    reference=SIGN_REFERENCE,
    explanation=SIGN_EXPLANATION,
    make_cases=_sign_cases,
    probe=_sign_probe,
    judge=_sign_judge,
    wrong_fixes=SIGN_WRONG,
    hints=SIGN_HINTS,
)

EXERCISES = (DETACH_CRITIC, LOSS_SIGN)
