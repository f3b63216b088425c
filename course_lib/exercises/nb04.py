"""Notebook 04 (clipped surrogate): a surrogate without clipping, a ratio computed upside down, and an entropy
bonus with the wrong sign."""
from __future__ import annotations

from dataclasses import dataclass
from textwrap import dedent

import torch

from .compare import as_tensor, close, fmt, grad_or_zeros, has_nan_or_inf, mismatch, scalar_loss
from .core import Case, Exercise, Observation, WrongFix
from .inputs import generator, randn, uniform


# ---------------------------------------------------------------------------------------------------------------
# 04.clip_surrogate
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SurrogateBatch:
    """logp (B,), logp_old (B,), adv (B,) and clip_eps."""

    logp: torch.Tensor
    logp_old: torch.Tensor
    adv: torch.Tensor
    clip_eps: float

    def ratio(self) -> torch.Tensor:
        """r_t = exp(logp - logp_old), float64."""
        return (self.logp.double() - self.logp_old.double()).exp()

    def loss(self, weighted: torch.Tensor) -> float:
        """-mean(weighted), as a float."""
        return float(-weighted.mean())


def _surrogate_batch(seed: int, batch: int, clip_eps: float, spread: float) -> SurrogateBatch:
    g = generator(seed)
    logp_old = -uniform(g, 0.5, 3.0, batch)
    return SurrogateBatch(logp_old + uniform(g, -spread, spread, batch), logp_old, randn(g, batch), clip_eps)


def _four_regions(clip_eps: float) -> SurrogateBatch:
    """One sample in each region of PPO's figure 1: r above / below the clip range, with A > 0 / A < 0."""
    ratio = torch.tensor([1.5, 0.5, 1.5, 0.5, 1.0 + clip_eps / 2, 1.0 - clip_eps / 2])
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0, 2.0, -2.0])
    logp_old = torch.tensor([-1.0, -2.0, -0.5, -1.5, -1.2, -0.7])
    return SurrogateBatch(logp_old + ratio.log(), logp_old, adv, clip_eps)


def _surrogate_cases(seed: int) -> list[Case]:
    return [
        Case("random batch, clip_eps = 0.2", _surrogate_batch(seed, 32, 0.2, 0.7)),
        Case("one sample per clipping region", _four_regions(0.2)),
        Case("random batch, clip_eps = 0.1", _surrogate_batch(seed + 1, 16, 0.1, 0.4)),
        Case("first epoch: ratios all 1", _surrogate_batch(seed + 2, 8, 0.2, 0.0)),
    ]


def _surrogate_probe(func, case: Case) -> Observation:
    d: SurrogateBatch = case.data
    logp = d.logp.clone().requires_grad_(True)
    loss = scalar_loss(func(logp, d.logp_old.clone(), d.adv.clone(), d.clip_eps))
    if loss.requires_grad:
        loss.backward()
    return {"loss": float(loss.detach()), "logp_grad": grad_or_zeros(logp)}


def _surrogate_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: SurrogateBatch = case.data
    r, adv, eps = d.ratio(), d.adv.double(), d.clip_eps
    clipped = r.clamp(1 - eps, 1 + eps) * adv
    if close(got["loss"], want["loss"]) and close(got["logp_grad"], want["logp_grad"]):
        return None
    if close(got["loss"], d.loss(r * adv)):
        return (f"your loss is {fmt(got['loss'])}, expected {fmt(want['loss'])}; it equals the unclipped "
                "-mean(r_t A_t), so a sample whose ratio has already left [1 - eps, 1 + eps] in the direction that "
                "helps keeps being pushed further, epoch after epoch")
    if close(got["loss"], d.loss(clipped)):
        return (f"your loss is {fmt(got['loss'])}, expected {fmt(want['loss'])}: a sample whose ratio left the "
                "clip range in the harmful direction (e.g. r = 0.5 with A > 0) gets no gradient from your loss, so "
                "an update could never undo that move")
    if close(got["loss"], d.loss(torch.maximum(r * adv, clipped))):
        return (f"your loss is {fmt(got['loss'])}, expected {fmt(want['loss'])}: on each sample it keeps the more "
                "optimistic of the clipped and unclipped terms")
    if close(got["loss"], -want["loss"]) and not close(want["loss"], 0.0):
        return (f"your loss is {fmt(got['loss'])}, the exact negative of the expected {fmt(want['loss'])}: the "
                "optimiser would make the objective worse")
    for other in (0.1, 0.2, 0.3):
        if other != eps and close(got["loss"], d.loss(torch.minimum(r * adv, r.clamp(1 - other, 1 + other) * adv))):
            return f"your loss matches a clip range of {other}, but this case passes clip_eps = {eps}"
    problem = mismatch(got["loss"], want["loss"], "the loss")
    if problem:
        return problem + "; compare your loss with the formula in the docstring"
    problem = mismatch(got["logp_grad"], want["logp_grad"], "d loss / d logp")
    return problem + ("; the loss has the right value but not the right gradient: some samples get gradient where "
                      "none is expected, or the other way round")


CLIP_STARTER = dedent('''\
    import torch


    def clipped_surrogate_loss(logp, logp_old, adv, clip_eps=0.2):
        """PPO's clipped surrogate loss (to be minimised).

        logp:     (B,) log pi_theta(a_t | s_t) under the current policy; carries gradients
        logp_old: (B,) log pi_theta_old(a_t | s_t) from the rollout (constants)
        adv:      (B,) advantages A_t (constants)
        clip_eps: clip range epsilon > 0
        returns:  scalar tensor -mean_t( min( r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t ) ),
                  with r_t = pi_theta(a_t | s_t) / pi_theta_old(a_t | s_t)
        """
        ratio = torch.exp(logp - logp_old)
        return -(ratio * adv).mean()
''')

CLIP_REFERENCE = dedent('''\
    import torch


    def clipped_surrogate_loss(logp, logp_old, adv, clip_eps=0.2):
        """PPO's clipped surrogate loss (to be minimised); shapes as in the starter."""
        # r_t = pi_theta(a_t | s_t) / pi_theta_old(a_t | s_t), computed in log space
        ratio = torch.exp(logp - logp_old)
        # L_clip = mean_t min( r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t ); the loss is -L_clip
        unclipped = ratio * adv
        clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv
        return -torch.min(unclipped, clipped).mean()
''')

CLIP_EXPLANATION = dedent('''\
    Without clipping, the surrogate r_t * A_t keeps rewarding the optimiser for pushing r_t further in the
    direction of A_t, for as many epochs as it is run on the same batch: the new policy can end up far from
    the one that collected the data, where the advantages no longer mean anything. PPO takes the *minimum*
    of the unclipped term and the term with r_t clipped to [1 - eps, 1 + eps]. The min makes it a pessimistic
    bound: once r_t has moved past the clip in the direction that helps (r > 1 + eps with A > 0, or
    r < 1 - eps with A < 0) the gradient is zero, but a move in the harmful direction is counted in full.
    Clamping the ratio *without* the min gets that second half wrong: those samples get zero gradient too, so
    the update cannot pull them back.
''')

_CLIP_RETURN = "    return -(ratio * adv).mean()\n"
CLIP_WRONG = (
    WrongFix(CLIP_STARTER.replace(_CLIP_RETURN,
                                  "    return -(torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()\n"),
             "clamps the ratio but drops the min"),
    WrongFix(CLIP_STARTER.replace(_CLIP_RETURN,
                                  "    clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv\n"
                                  "    return -torch.max(ratio * adv, clipped).mean()\n"),
             "max instead of min"),
    WrongFix(CLIP_STARTER.replace(_CLIP_RETURN,
                                  "    return -torch.clamp(ratio * adv, 1 - clip_eps, 1 + clip_eps).mean()\n"),
             "clamps the product r * A instead of the ratio"),
    WrongFix(CLIP_STARTER.replace(_CLIP_RETURN,
                                  "    clipped = torch.clamp(ratio, 0.8, 1.2) * adv\n"
                                  "    return -torch.min(ratio * adv, clipped).mean()\n"),
             "hard-codes eps = 0.2"),
    WrongFix(CLIP_STARTER.replace(_CLIP_RETURN,
                                  "    clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv\n"
                                  "    return -torch.min(ratio * adv, clipped)\n"),
             "forgets the mean"),
)

CLIP_HINTS = (
    "Look at the `return` line: it never uses `clip_eps`. Take a sample with A > 0 whose ratio is already "
    "well above 1 + eps: does your loss still reward raising its ratio further? And what should happen to a "
    "sample whose ratio moved the *harmful* way?",
    "Build two terms per sample, the unclipped r_t A_t and the same with r_t clipped to [1 - eps, 1 + eps]. "
    "Keep the pessimistic (smaller) of the two on each sample, then average and negate, because the "
    "optimiser minimises.",
    "`unclipped = ratio * adv`, `clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv`, then "
    "`return -torch.min(unclipped, clipped).mean()`.",
)

CLIP_SURROGATE = Exercise(
    id="04.clip_surrogate",
    title="The surrogate without clipping",
    func_name="clipped_surrogate_loss",
    starter=CLIP_STARTER,
    reference=CLIP_REFERENCE,
    explanation=CLIP_EXPLANATION,
    make_cases=_surrogate_cases,
    probe=_surrogate_probe,
    judge=_surrogate_judge,
    wrong_fixes=CLIP_WRONG,
    hints=CLIP_HINTS,
)


# ---------------------------------------------------------------------------------------------------------------
# 04.ratio_direction
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogProbPair:
    """logp (B,) under the current policy and logp_old (B,) under the rollout policy."""

    logp: torch.Tensor
    logp_old: torch.Tensor


def _logprob_pair(seed: int, batch: int, level: float) -> LogProbPair:
    g = generator(seed)
    logp_old = randn(g, batch, scale=0.5, shift=level)
    return LogProbPair(logp_old + randn(g, batch, scale=0.3), logp_old)


def _ratio_cases(seed: int) -> list[Case]:
    return [
        Case("random batch", _logprob_pair(seed, 16, -1.5)),
        Case("rare actions (log-probabilities near -150)", _logprob_pair(seed + 1, 8, -150.0)),
        Case("one sample", _logprob_pair(seed + 2, 1, -0.7)),
    ]


def _ratio_probe(func, case: Case) -> Observation:
    d: LogProbPair = case.data
    logp = d.logp.clone().requires_grad_(True)
    out = func(logp, d.logp_old.clone())
    ratio = as_tensor(out, "your ratio", tuple(d.logp.shape))
    if isinstance(out, torch.Tensor) and out.requires_grad:
        out.sum().backward()
    return {"ratio": ratio, "logp_grad": grad_or_zeros(logp)}


def _ratio_judge(got: Observation, want: Observation, case: Case) -> str | None:
    r = got["ratio"]
    if close(r, want["ratio"]) and close(got["logp_grad"], want["logp_grad"]):
        return None
    if has_nan_or_inf(r):
        return ("your ratio is NaN or inf: the exponential of a log-probability near -150 underflows to 0 in "
                "float32, and 0 / 0 is NaN")
    if close(r, 1.0 / torch.as_tensor(want["ratio"])) and not close(want["ratio"], 1.0):
        w = torch.as_tensor(want["ratio"], dtype=torch.float64)
        k = int((r - w).abs().flatten().argmax())
        return (f"ratio[{k}] is {fmt(r.flatten()[k])}, expected {fmt(w.flatten()[k])}: each of your ratios is the "
                "reciprocal of the expected one, so r grows when the current policy makes the action *less* likely")
    problem = mismatch(r, want["ratio"], "ratio")
    if problem:
        return problem + "; the docstring's r_t is a ratio of probabilities"
    return ("your ratio has the right values but its gradient with respect to logp is wrong (expected d r / d logp "
            "= r): the clipped loss needs gradient to flow through the ratio into the policy")


RATIO_STARTER = dedent('''\
    import torch


    def probability_ratio(logp, logp_old):
        """PPO's probability ratio r_t = pi_theta(a_t | s_t) / pi_theta_old(a_t | s_t).

        logp:     (B,) log-probabilities under the current policy; carries gradients
        logp_old: (B,) log-probabilities under the policy that collected the data (constants)
        returns:  (B,) ratios, differentiable w.r.t. logp; they must stay finite even when the
                  log-probabilities are very negative (e.g. -150 for a rare action in a large action space)
        """
        return torch.exp(logp_old - logp)
''')

RATIO_REFERENCE = dedent('''\
    import torch


    def probability_ratio(logp, logp_old):
        """(B,) ratios pi_theta / pi_theta_old; shapes as in the starter."""
        # r_t = pi_theta / pi_theta_old = exp(log pi_theta - log pi_theta_old), stable for tiny probabilities
        return torch.exp(logp - logp_old)
''')

RATIO_EXPLANATION = dedent('''\
    The ratio measures how much more (r > 1) or less (r < 1) likely the *current* policy makes the action
    than the policy that collected it: new over old. Upside down, r grows when the action becomes *less*
    likely, so the surrogate r * A pushes every probability the wrong way, and clipping around 1 clips the
    wrong samples. Compute it from log-probabilities, exp(logp - logp_old): exp(logp) / exp(logp_old) is the
    same number on paper, but for log-probabilities around -150 both exponentials underflow to 0 in float32
    and 0 / 0 gives NaN. Keep it differentiable: the gradient of the surrogate flows through r into logp.
''')

_RATIO_RETURN = "    return torch.exp(logp_old - logp)\n"
RATIO_WRONG = (
    WrongFix(RATIO_STARTER.replace(_RATIO_RETURN, "    return logp / logp_old\n"),
             "ratio of log-probabilities"),
    WrongFix(RATIO_STARTER.replace(_RATIO_RETURN, "    return torch.exp(logp) / torch.exp(logp_old)\n"),
             "exponentiates first: 0 / 0 = NaN for very negative log-probabilities"),
    WrongFix(RATIO_STARTER.replace(_RATIO_RETURN, "    return torch.exp(logp - logp_old).detach()\n"),
             "detached: no gradient reaches the policy"),
    WrongFix(RATIO_STARTER.replace(_RATIO_RETURN, "    return 1 + (logp - logp_old)\n"),
             "first-order approximation of the ratio"),
)

RATIO_HINTS = (
    "Look at the order of the two log-probabilities in the exponent. The docstring's r_t is pi_theta / "
    "pi_theta_old: which of the two policies does `logp` come from, and which way round does your exponent "
    "subtract them?",
    "log(a / b) = log a - log b, so a ratio of probabilities is the exponential of a *difference* of "
    "log-probabilities, numerator first. (Exponentiating each one and dividing gives the same number on "
    "paper, but 0 / 0 in float32 for log-probabilities near -150.)",
    "`return torch.exp(logp - logp_old)`.",
)

RATIO_DIRECTION = Exercise(
    id="04.ratio_direction",
    title="The ratio computed the wrong way round",
    func_name="probability_ratio",
    starter=RATIO_STARTER,
    reference=RATIO_REFERENCE,
    explanation=RATIO_EXPLANATION,
    make_cases=_ratio_cases,
    probe=_ratio_probe,
    judge=_ratio_judge,
    wrong_fixes=RATIO_WRONG,
    hints=RATIO_HINTS,
)

# ---------------------------------------------------------------------------------------------------------------
# 04.entropy_sign
# ---------------------------------------------------------------------------------------------------------------
ENTROPY_STEP = 0.5  # step size of the one gradient-descent step on the logits that shows the symptom


@dataclass(frozen=True)
class LossParts:
    """The parts of PPO's loss: logits (B, A) of the policy, clip_loss and value_loss (floats), c1 and c2."""

    logits: torch.Tensor
    clip_loss: float
    value_loss: float
    vf_coef: float
    ent_coef: float

    def entropies(self, logits: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) entropies H[pi](s) = -sum_a pi(a|s) log pi(a|s) of the categorical policies, float64."""
        logits = self.logits if logits is None else logits
        return torch.distributions.Categorical(logits=logits.double()).entropy()

    def loss(self, entropy_term: float) -> float:
        """clip_loss + c1 * value_loss + entropy_term."""
        return self.clip_loss + self.vf_coef * self.value_loss + entropy_term


def _loss_parts(seed: int, batch: int, n_actions: int, vf_coef: float, ent_coef: float) -> LossParts:
    g = generator(seed)
    logits = randn(g, batch, n_actions, scale=1.5)  # far from uniform, where the entropy's gradient is 0
    clip_loss, value_loss = (float(x) for x in randn(g, 2, scale=0.5))
    return LossParts(logits, clip_loss, abs(value_loss) + 0.1, vf_coef, ent_coef)


def _entropy_cases(seed: int) -> list[Case]:
    return [
        Case("random batch of 16 states, 4 actions, c1 = 0.5, c2 = 0.01", _loss_parts(seed, 16, 4, 0.5, 0.01)),
        Case("random batch of 8 states, 2 actions, c1 = 0.5, c2 = 0.2", _loss_parts(seed + 1, 8, 2, 0.5, 0.2)),
        Case("random batch of 32 states, 6 actions, c1 = 1.0, c2 = 0.05", _loss_parts(seed + 2, 32, 6, 1.0, 0.05)),
    ]


def _entropy_probe(func, case: Case) -> Observation:
    d: LossParts = case.data
    logits = d.logits.clone().requires_grad_(True)
    clip_loss = torch.tensor(d.clip_loss, requires_grad=True)
    value_loss = torch.tensor(d.value_loss, requires_grad=True)
    entropies = torch.distributions.Categorical(logits=logits).entropy()
    loss = scalar_loss(func(clip_loss, value_loss, entropies, d.vf_coef, d.ent_coef))
    if loss.requires_grad:
        loss.backward()
    logits_grad = grad_or_zeros(logits)
    # the symptom: one gradient-descent step on the logits, theta <- theta - step * d loss / d theta
    stepped = d.logits.double() - ENTROPY_STEP / max(d.ent_coef, 1e-12) * logits_grad
    return {"loss": float(loss.detach()), "logits_grad": logits_grad, "clip_grad": grad_or_zeros(clip_loss),
            "value_grad": grad_or_zeros(value_loss), "entropy_after_step": float(d.entropies(stepped).mean())}


def _entropy_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: LossParts = case.data
    h = d.entropies()
    if (close(got["loss"], want["loss"]) and close(got["logits_grad"], want["logits_grad"])
            and close(got["clip_grad"], want["clip_grad"]) and close(got["value_grad"], want["value_grad"])):
        return None
    h0, h_got, h_want = float(h.mean()), got["entropy_after_step"], want["entropy_after_step"]
    if h_got < h0 < h_want:
        return (f"one gradient-descent step on your loss lowers the policy's mean entropy from {fmt(h0)} to "
                f"{fmt(h_got)} nats, where the expected loss raises it to {fmt(h_want)}: minimising your loss "
                "makes the policy more deterministic, so the bonus speeds up the collapse of exploration "
                "instead of resisting it")
    if close(got["logits_grad"], torch.zeros_like(torch.as_tensor(want["logits_grad"]))):
        value = (f"your loss has the expected value {fmt(want['loss'])}, but" if close(got["loss"], want["loss"])
                 else f"your loss is {fmt(got['loss'])}, expected {fmt(want['loss'])}, and")
        return value + " no gradient reaches the policy through the entropies: the bonus cannot change what the policy does"
    if not close(got["clip_grad"], want["clip_grad"]):
        return (f"d loss / d clip_loss is {fmt(float(got['clip_grad']))}, expected {fmt(float(want['clip_grad']))}: "
                "the surrogate's loss should enter the total with weight 1")
    if not close(got["value_grad"], want["value_grad"]):
        return (f"d loss / d value_loss is {fmt(float(got['value_grad']))}, expected "
                f"{fmt(float(want['value_grad']))} (this case passes vf_coef = {d.vf_coef:g}, "
                f"ent_coef = {d.ent_coef:g})")
    if close(got["loss"], d.loss(-d.ent_coef * float(h.sum()))):
        return (f"your loss is {fmt(got['loss'])}, expected {fmt(want['loss'])}: your entropy term grows with the "
                f"number of states in the batch ({len(h)} here), so the same ent_coef would weigh more in a "
                "larger batch; the docstring's term is an average over states")
    problem = mismatch(got["loss"], want["loss"], "the loss")
    if problem:
        return problem + "; compare your loss with the formula in the docstring"
    problem = mismatch(got["logits_grad"], want["logits_grad"], "d loss / d logits")
    return problem + "; the loss has the right value but not the right gradient with respect to the policy"


ENTROPY_STARTER = dedent('''\
    import torch


    def ppo_total_loss(clip_loss, value_loss, entropies, vf_coef=0.5, ent_coef=0.01):
        """PPO's full loss (to be minimised), with the entropy bonus that keeps the policy exploring.

        clip_loss:  scalar tensor -L_clip, the clipped surrogate's loss
        value_loss: scalar tensor L_VF, the critic's loss
        entropies:  (B,) entropies H[pi_theta](s_t) of the policy at the batch's states; carry gradients
        vf_coef:    c1 >= 0, weight of the value loss
        ent_coef:   c2 >= 0, weight of the entropy bonus
        returns:    scalar tensor, the loss whose minimisation maximises the PPO objective
                    L_clip - c1 * L_VF + c2 * mean_t H[pi_theta](s_t)
        """
        return clip_loss + vf_coef * value_loss + ent_coef * entropies.mean()
''')

ENTROPY_REFERENCE = dedent('''\
    import torch


    def ppo_total_loss(clip_loss, value_loss, entropies, vf_coef=0.5, ent_coef=0.01):
        """PPO's full loss (to be minimised); shapes as in the starter."""
        # maximise L_clip - c1 L_VF + c2 H  <=>  minimise -L_clip + c1 L_VF - c2 H, with H = mean_t H[pi](s_t)
        return clip_loss + vf_coef * value_loss - ent_coef * entropies.mean()
''')

ENTROPY_EXPLANATION = dedent('''\
    PPO maximises L_clip - c1 L_VF + c2 H: the entropy is a bonus, added to the objective so that the policy
    is paid for staying uncertain. The optimiser minimises a loss, the objective negated, so every term changes
    sign: -L_clip + c1 L_VF - c2 H. With + c2 H in the loss, each gradient step makes the policy *more*
    deterministic, on top of what the advantages ask for: the exact opposite of a bonus, and a faster road to
    the premature collapse measured in section 4. Nothing crashes, and with a small c2 the runs can look almost
    normal; the entropy curve on the dashboard gives it away. The entropy term is a mean over the batch's
    states, like the other two, so c2 means the same thing at every batch size.
''')

_ENTROPY_RETURN = "    return clip_loss + vf_coef * value_loss + ent_coef * entropies.mean()\n"
ENTROPY_WRONG = (
    WrongFix(ENTROPY_STARTER.replace(_ENTROPY_RETURN, "    return clip_loss + vf_coef * value_loss\n"),
             "drops the entropy term"),
    WrongFix(ENTROPY_STARTER.replace(_ENTROPY_RETURN,
                                     "    return clip_loss + ent_coef * value_loss - vf_coef * entropies.mean()\n"),
             "swaps the two coefficients"),
    WrongFix(ENTROPY_STARTER.replace(_ENTROPY_RETURN,
                                     "    return clip_loss + vf_coef * value_loss - ent_coef * entropies.sum()\n"),
             "sums the entropies over the batch instead of averaging"),
    WrongFix(ENTROPY_STARTER.replace(_ENTROPY_RETURN,
                                     "    return -(clip_loss + vf_coef * value_loss + ent_coef * entropies.mean())\n"),
             "negates the whole loss"),
    WrongFix(ENTROPY_STARTER.replace(_ENTROPY_RETURN,
                                     "    return clip_loss + vf_coef * value_loss - ent_coef * entropies.mean().detach()\n"),
             "right value, but the entropy term is detached"),
    WrongFix(ENTROPY_STARTER.replace(_ENTROPY_RETURN,
                                     "    return clip_loss + vf_coef * (value_loss - ent_coef * entropies.mean())\n"),
             "puts the entropy term inside the value loss's weight"),
)

ENTROPY_HINTS = (
    "Look at the last term of the `return` line. Suppose the policy's entropy goes up a little while everything "
    "else stays the same: does your loss go up or down? The optimiser always moves the way that makes the loss "
    "smaller, so which way does it push the entropy?",
    "The docstring's objective *adds* c2 * H: higher entropy is better. The loss is that objective negated (the "
    "optimiser minimises), so every term enters the loss with the opposite sign to the one it has in the "
    "objective, the entropy term included; the two other terms already follow that rule.",
    "`return clip_loss + vf_coef * value_loss - ent_coef * entropies.mean()`.",
)

ENTROPY_SIGN = Exercise(
    id="04.entropy_sign",
    title="An entropy bonus with the wrong sign",
    func_name="ppo_total_loss",
    starter=ENTROPY_STARTER,
    reference=ENTROPY_REFERENCE,
    explanation=ENTROPY_EXPLANATION,
    make_cases=_entropy_cases,
    probe=_entropy_probe,
    judge=_entropy_judge,
    wrong_fixes=ENTROPY_WRONG,
    hints=ENTROPY_HINTS,
)

EXERCISES = (CLIP_SURROGATE, RATIO_DIRECTION, ENTROPY_SIGN)
