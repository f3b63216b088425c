"""Notebook 03 (baselines and advantage): raw returns with no baseline, and backward() on a non-scalar loss."""
from __future__ import annotations

from dataclasses import dataclass
from textwrap import dedent

import torch

from .cells import describe_exception
from .compare import as_tensor, close, fmt, grad_or_zeros, mismatch, scalar_loss
from .core import Case, CheckFailure, Exercise, Observation, WrongFix
from .inputs import generator, randn


# ---------------------------------------------------------------------------------------------------------------
# 03.baseline
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReturnsBatch:
    """log-probs (B,), Monte Carlo returns (B,) and critic values (B,)."""

    logp: torch.Tensor
    returns: torch.Tensor
    values: torch.Tensor

    def loss(self, weight: torch.Tensor) -> torch.Tensor:
        """-mean(weight * logp), float64."""
        return -(self.logp.double() * weight).mean()


def _returns_batch(seed: int, batch: int) -> ReturnsBatch:
    g = generator(seed)
    returns = randn(g, batch, scale=3.0, shift=10.0)
    return ReturnsBatch(
        logp=-randn(g, batch).abs() - 0.2,
        returns=returns,
        values=returns + randn(g, batch, scale=2.0, shift=-0.5),
    )


def _baseline_cases(seed: int) -> list[Case]:
    return [
        Case("random batch", _returns_batch(seed, 12)),
        Case("another batch", _returns_batch(seed + 1, 5)),
        Case("one sample", _returns_batch(seed + 2, 1)),
    ]


def _baseline_probe(func, case: Case) -> Observation:
    d: ReturnsBatch = case.data
    logp = d.logp.clone().requires_grad_(True)
    values = d.values.clone().requires_grad_(True)
    loss = scalar_loss(func(logp, d.returns.clone(), values))
    if loss.requires_grad:
        loss.backward()
    return {
        "loss": float(loss.detach()),
        "logp_grad": grad_or_zeros(logp),
        "values_grad": float(grad_or_zeros(values).abs().sum()),
    }


def _baseline_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: ReturnsBatch = case.data
    returns, values = d.returns.double(), d.values.double()
    if got["values_grad"] > 1e-6:
        return (f"calling backward() on your loss put gradient into the critic's values (sum of |grad| = "
                f"{fmt(got['values_grad'])}, expected 0): this actor loss would also train the critic")
    if close(got["loss"], d.loss(returns)):
        return (f"your loss is {fmt(got['loss'])}, expected {fmt(want['loss'])}; it is exactly what the raw "
                "returns G_t give as the weight, and the critic's values play no part in it: with returns around "
                "+10, every action taken is pushed up")
    if close(got["loss"], -want["loss"]) and not close(want["loss"], 0.0):
        return (f"your loss is {fmt(got['loss'])}, the exact negative of the expected {fmt(want['loss'])}: actions "
                "that did better than the critic expected would become less likely")
    if returns.numel() > 1 and close(got["loss"], d.loss(returns - returns.mean())):
        return ("your loss matches a baseline equal to the batch's mean return, the same for every state; the "
                "docstring's baseline is the critic's value of each state")
    problem = mismatch(got["loss"], want["loss"], "the loss")
    if problem:
        return problem + "; compare your loss with the docstring's L"
    problem = mismatch(got["logp_grad"], want["logp_grad"], "d loss / d logp")
    if problem:
        return (problem + "; the loss has the right value but its gradient is that of the raw returns: the "
                "baseline does not scale log pi in your loss")
    return None


BASELINE_STARTER = dedent('''\
    import torch


    def reinforce_loss(logp, returns, values):
        """REINFORCE loss with the critic's value as a baseline (to be minimised).

        logp:    (B,) log pi(a_t | s_t); carries gradients to the actor
        returns: (B,) Monte Carlo returns G_t (constants)
        values:  (B,) critic values V(s_t); they carry gradients to the critic, which must get none from this loss
        returns: scalar tensor L = -mean_t( (G_t - V(s_t)) * log pi(a_t | s_t) )
        """
        return -(logp * returns).mean()
''')

BASELINE_REFERENCE = dedent('''\
    import torch


    def reinforce_loss(logp, returns, values):
        """REINFORCE loss with a critic baseline (to be minimised); shapes as in the starter."""
        # A_t = G_t - V(s_t); V is detached: the baseline is a constant for the actor
        adv = returns - values.detach()
        # L = -mean_t( A_t * log pi(a_t | s_t) )
        return -(logp * adv).mean()
''')

BASELINE_EXPLANATION = dedent('''\
    Subtracting a baseline b(s) that does not depend on the action leaves the expected gradient unchanged,
    because E_a[grad log pi(a|s)] = 0, but it can shrink its variance a lot: with raw returns of about +10,
    every action taken gets pushed up, and only the *differences* between returns carry information.
    With the critic's V(s_t) as the baseline the weight becomes the advantage G_t - V(s_t): positive for
    actions that did better than the critic expected, negative otherwise. The baseline must be detached,
    or this loss would also train the critic, in the direction that helps the actor's loss, not towards G_t.
''')

_BASELINE_RETURN = "    return -(logp * returns).mean()\n"
BASELINE_WRONG = (
    WrongFix(BASELINE_STARTER.replace(_BASELINE_RETURN, "    return -(logp * (returns - values)).mean()\n"),
             "baseline not detached: the actor loss trains the critic"),
    WrongFix(BASELINE_STARTER.replace(_BASELINE_RETURN, "    return -(logp * (values.detach() - returns)).mean()\n"),
             "advantage with the wrong sign"),
    WrongFix(BASELINE_STARTER.replace(_BASELINE_RETURN, "    return -(logp * (returns - returns.mean())).mean()\n"),
             "mean-return baseline instead of the critic's V(s_t)"),
    WrongFix(BASELINE_STARTER.replace(_BASELINE_RETURN, "    return -(logp * returns - values.detach()).mean()\n"),
             "subtracts the baseline outside the product: the gradient is that of raw returns"),
)

BASELINE_HINTS = (
    "Look at the weight that multiplies `logp`: raw returns of about +10 push every action up, good or bad. "
    "Which argument of the function is never used?",
    "The weight should say how much better than expected the return was: the return minus the critic's "
    "estimate for that state. The critic's values must stay constants here, or this loss would train the "
    "critic too.",
    "`adv = returns - values.detach()`, then `return -(logp * adv).mean()`.",
)

BASELINE = Exercise(
    id="03.baseline",
    title="Raw returns with no baseline",
    func_name="reinforce_loss",
    starter=BASELINE_STARTER,
    reference=BASELINE_REFERENCE,
    explanation=BASELINE_EXPLANATION,
    make_cases=_baseline_cases,
    probe=_baseline_probe,
    judge=_baseline_judge,
    wrong_fixes=BASELINE_WRONG,
    hints=BASELINE_HINTS,
)


# ---------------------------------------------------------------------------------------------------------------
# 03.scalar_loss
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActorStep:
    """A linear softmax actor (weight (obs_dim, A)) and a batch: obs (B, obs_dim), actions (B,), adv (B,)."""

    weight: torch.Tensor
    obs: torch.Tensor
    actions: torch.Tensor
    adv: torch.Tensor
    stale_grad: bool  # the weight starts with a leftover gradient from an earlier backward()
    lr: float = 0.1


def _actor_step(seed: int, batch: int, stale_grad: bool) -> ActorStep:
    g = generator(seed)
    obs_dim, n_actions = 3, 4
    return ActorStep(randn(g, obs_dim, n_actions), randn(g, batch, obs_dim),
                     torch.randint(n_actions, (batch,), generator=g), randn(g, batch), stale_grad)


def _scalar_cases(seed: int) -> list[Case]:
    return [
        Case("random batch", _actor_step(seed, 16, False)),
        Case("leftover gradient from an earlier step", _actor_step(seed + 1, 8, True)),
        Case("one sample", _actor_step(seed + 2, 1, False)),
    ]


def _scalar_probe(func, case: Case) -> Observation:
    d: ActorStep = case.data
    weight = d.weight.clone().requires_grad_(True)
    if d.stale_grad:
        weight.grad = torch.ones_like(weight)
    optimizer = torch.optim.SGD([weight], lr=d.lr)
    logp = torch.log_softmax(d.obs @ weight, dim=-1).gather(1, d.actions[:, None]).squeeze(1)
    try:
        out = func(optimizer, logp, d.adv.clone())
    except RuntimeError as err:
        if "only for scalar outputs" not in str(err):
            raise
        raise CheckFailure(describe_exception(err, func) + f"; backward() was called on a tensor with one entry "
                           f"per sample (B = {d.adv.numel()}), and it needs a single number") from None
    loss = scalar_loss(out, "the loss you returned")
    return {"loss": float(loss.detach()), "weight": as_tensor(weight, "the weight")}


def _scalar_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: ActorStep = case.data
    w0 = d.weight.double()
    step, want_step = got["weight"] - w0, want["weight"] - w0
    batch = d.adv.numel()
    if close(step, 0.0 * want_step) and not close(want_step, 0.0 * want_step):
        return "the weight is unchanged after your function returned: no optimiser step reached the parameters"
    if batch > 1 and close(step, batch * want_step):
        return (f"your update moved the weight {batch} times as far as expected, one factor per sample (B = "
                f"{batch}): the step size would grow with the batch size")
    problem = mismatch(got["loss"], want["loss"], "the returned loss")
    if problem:
        return problem + "; the returned loss should be the docstring's L, one number for the batch"
    problem = mismatch(got["weight"], want["weight"], "the updated weight")
    if problem:
        extra = " (the weight started with a gradient left over from an earlier step)" if d.stale_grad else ""
        return problem + f"; your step differs from one step on the docstring's L{extra}"
    return None


SCALAR_STARTER = dedent('''\
    import torch


    def update_actor(optimizer, logp, adv):
        """One gradient step on the actor loss L = -mean_t( A_t * log pi(a_t | s_t) ).

        optimizer: a torch optimiser over the actor's parameters
        logp:      (B,) log pi(a_t | s_t), computed from those parameters
        adv:       (B,) advantages A_t (constants)
        returns:   the loss L as a 0-dim tensor (its value before the step)
        """
        optimizer.zero_grad()
        loss = -logp * adv
        loss.backward()
        optimizer.step()
        return loss
''')

SCALAR_REFERENCE = dedent('''\
    import torch


    def update_actor(optimizer, logp, adv):
        """One SGD/Adam step on L = -mean_t(A_t * log pi(a_t | s_t)); returns L (0-dim)."""
        optimizer.zero_grad()
        # L = -mean_t( A_t * log pi(a_t | s_t) ): one number, so backward() needs no extra argument
        loss = -(logp * adv).mean()
        loss.backward()
        optimizer.step()
        return loss
''')

SCALAR_EXPLANATION = dedent('''\
    backward() computes the gradient of *one number*. On a (B,) tensor torch refuses ("grad can be implicitly
    created only for scalar outputs"), because it would have to guess how to weight the B entries.
    Reducing with .mean() says "the loss is the average over the batch", which keeps the gradient's size
    independent of the batch size. .sum() also runs, but then doubling the batch doubles the step, so every
    change of batch size silently retunes the learning rate. (Passing torch.ones_like(loss) to backward()
    is the same as .sum().)
''')

_SCALAR_BODY = "    loss = -logp * adv\n    loss.backward()\n"
SCALAR_WRONG = (
    WrongFix(SCALAR_STARTER.replace(_SCALAR_BODY, "    loss = -(logp * adv).sum()\n    loss.backward()\n"),
             "sum instead of mean: the step grows with the batch size"),
    WrongFix(SCALAR_STARTER.replace(_SCALAR_BODY, "    loss = -logp * adv\n    loss.mean().backward()\n"),
             "backward on the mean, but returns the (B,) loss"),
    WrongFix(SCALAR_STARTER.replace(_SCALAR_BODY, "    loss = -logp * adv\n    loss.backward(torch.ones_like(loss))\n"),
             "backward with a ones vector = gradient of the sum; returns the (B,) loss"),
    WrongFix(SCALAR_STARTER.replace(_SCALAR_BODY, "    loss = -logp.mean() * adv.mean()\n    loss.backward()\n"),
             "product of means"),
    WrongFix(SCALAR_STARTER.replace("    optimizer.zero_grad()\n", "").replace(
        _SCALAR_BODY, "    loss = -(logp * adv).mean()\n    loss.backward()\n"),
        "drops zero_grad(): leftover gradients are added to this step's"),
)

SCALAR_HINTS = (
    "Read the error: `backward()` is called on `loss`, which holds one number per sample (shape (B,)). "
    "Which single number should stand for the whole batch, according to the docstring's L?",
    "The docstring's L is an average over the batch. A sum would also run, but then the step size grows "
    "with the batch size, and every change of batch size would silently retune the learning rate.",
    "`loss = -(logp * adv).mean()`, then `loss.backward()` as before.",
)

SCALAR_LOSS = Exercise(
    id="03.scalar_loss",
    title="backward() on a non-scalar loss",
    func_name="update_actor",
    starter=SCALAR_STARTER,
    reference=SCALAR_REFERENCE,
    explanation=SCALAR_EXPLANATION,
    make_cases=_scalar_cases,
    probe=_scalar_probe,
    judge=_scalar_judge,
    wrong_fixes=SCALAR_WRONG,
    hints=SCALAR_HINTS,
)

EXERCISES = (BASELINE, SCALAR_LOSS)
