"""Notebook 06 (normalisation): unnormalised advantages, a one-sample batch that becomes NaN, and an
observation normaliser that keeps learning during evaluation."""
from __future__ import annotations

from dataclasses import dataclass
from textwrap import dedent

import torch

from .compare import as_tensor, close, fmt, has_nan_or_inf, mismatch
from .core import Case, CheckFailure, Exercise, Observation, WrongFix
from .inputs import flags, generator, randn

EPS = 1e-8


def standardise(x: torch.Tensor, unbiased: bool, dim: int | None = None) -> torch.Tensor:
    """(x - mean) / (std + 1e-8) in float64, with the sample (B - 1) or population (B) std."""
    x = x.double()
    if dim is None:
        return (x - x.mean()) / (x.std(correction=1 if unbiased else 0) + EPS)
    return (x - x.mean(dim=dim)) / (x.std(dim=dim, correction=1 if unbiased else 0) + EPS)


def _either_std(got: torch.Tensor, x: torch.Tensor) -> bool:
    """True if ``got`` is the standardised ``x`` with either std convention (NaN never matches)."""
    return any(not has_nan_or_inf(standardise(x, u)) and close(got, standardise(x, u)) for u in (True, False))


# ---------------------------------------------------------------------------------------------------------------
# 06.normalise_advantages
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MaskedAdvantages:
    """Advantages (T, N) or (T,) and the matching 0/1 ``valid`` flags (0 = a next-step-autoreset fake step)."""

    adv: torch.Tensor
    valid: torch.Tensor

    def real(self) -> torch.Tensor:
        """The advantages of valid steps, float64, flattened."""
        return self.adv.double()[self.valid > 0]


def _masked(seed: int, shape: tuple[int, ...], p_invalid: float) -> MaskedAdvantages:
    g = generator(seed)
    adv = randn(g, *shape, scale=50.0, shift=10.0)
    valid = 1 - flags(g, p_invalid, *shape)
    if p_invalid > 0:
        valid.view(-1)[0], valid.view(-1)[1], valid.view(-1)[2] = 0.0, 1.0, 1.0
        # what a fake step may hold: a reset-step value nothing should learn from
        adv = torch.where(valid > 0, adv, torch.full_like(adv, 400.0))
    return MaskedAdvantages(adv, valid)


def _masked_cases(seed: int) -> list[Case]:
    return [
        Case("rollout (T=16, N=4) with fake autoreset steps", _masked(seed, (16, 4), 0.15)),
        Case("all steps valid (T=8, N=3)", _masked(seed + 1, (8, 3), 0.0)),
        Case("one env, shape (T,)", _masked(seed + 2, (20,), 0.1)),
    ]


def _masked_probe(func, case: Case) -> Observation:
    d: MaskedAdvantages = case.data
    out = func(d.adv.clone(), d.valid.clone())
    return {"adv": as_tensor(out, "your advantages", tuple(d.adv.shape))}


def _masked_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: MaskedAdvantages = case.data
    out = torch.as_tensor(got["adv"], dtype=torch.float64)
    mask = d.valid > 0
    real, got_real = d.real(), out[mask]
    if has_nan_or_inf(out):
        return "your advantages contain NaN or inf (fake steps too must stay finite: NaN * 0 is still NaN)"
    if _either_std(got_real, real):
        return None
    stats = (f"over the valid steps yours have mean {fmt(got_real.mean())} and std "
             f"{fmt(got_real.std(correction=0))}, expected 0 and 1")
    if close(got_real, real):
        return (f"your advantages come back unchanged ({stats}): their scale still follows the reward scale, so "
                "the size of each policy step would too")
    everything = d.adv.double().flatten()
    if any(close(got_real, standardise(everything, u)[mask.flatten()]) for u in (True, False)):
        return (f"{stats}; your result matches statistics taken over every entry, the fake autoreset steps "
                "(valid == 0, holding 400.0 here) included")
    zeroed = (d.adv.double() * d.valid.double()).flatten()
    if any(close(got_real, standardise(zeroed, u)[mask.flatten()]) for u in (True, False)):
        return (f"{stats}; your result matches statistics over every entry with the fake steps set to 0, and "
                "those zeros still count in a mean and a std")
    if d.adv.ndim == 2 and any(close(got_real, standardise(d.adv, u, dim=0)[mask]) for u in (True, False)):
        return f"{stats}; your result matches each env's column normalised on its own"
    if close(got_real, real - real.mean()):
        return f"{stats}: centred, but the scale is unchanged"
    if any(close(got_real, real / (real.std(correction=c) + EPS)) for c in (0, 1)):
        return f"{stats}: scaled, but not centred"
    problem = mismatch(got_real, standardise(real, False), "normalised valid advantage")
    return problem + "; compare with what the docstring says to return"


MASKED_STARTER = dedent('''\
    import torch


    def normalise_advantages(adv, valid):
        """Normalise a rollout's advantages before the PPO update.

        adv:     (T, N) advantages (or (T,) for one env)
        valid:   same shape, 1.0 for real steps and 0.0 for the fake steps a next-step-autoreset vector env
                 inserts after each episode end (their values are meaningless)
        returns: same shape: (adv - mean) / (std + 1e-8), with mean and std taken over the valid steps only;
                 entries at fake steps may hold any finite value (the loss masks them out)
        """
        return adv
''')

MASKED_REFERENCE = dedent('''\
    import torch


    def normalise_advantages(adv, valid):
        """Normalise advantages over the valid steps; shapes as in the starter."""
        real = adv[valid > 0]
        # population std (divide by the number of real steps): 0, not NaN, if only one step is real
        std = real.std(correction=0)
        # A_hat = (A - mean(A)) / (std(A) + eps), statistics over real steps only
        return (adv - real.mean()) / (std + 1e-8)
''')

MASKED_EXPLANATION = dedent('''\
    The size of the advantages depends on the reward scale and drifts as the critic learns, so without
    normalisation the effective learning rate of the policy drifts too: huge advantages give huge, unstable
    steps, tiny ones stall learning. Standardising each batch keeps the policy loss on a fixed scale (and
    centring means about half the actions are pushed up and half down). The statistics must come from the
    real steps only: the fake steps a Gymnasium 1.x vector env inserts after an episode end carry no
    transition, and including them (even as zeros) shifts the mean and the std. The checker accepts either
    std convention on these batches, but prefer the population std (correction=0, divide by the number of
    real steps): torch's default std() divides by that number minus 1, which is NaN when a single step is
    real (exercise 06.one_sample_nan is that bug).
''')

_MASKED_RETURN = "    return adv\n"
MASKED_WRONG = (
    WrongFix(MASKED_STARTER.replace(_MASKED_RETURN, "    return (adv - adv.mean()) / (adv.std() + 1e-8)\n"),
             "normalises over all entries, fake steps included"),
    WrongFix(MASKED_STARTER.replace(_MASKED_RETURN, "    masked = adv * valid\n"
                                                    "    return (masked - masked.mean()) / (masked.std() + 1e-8)\n"),
             "zeroes the fake steps but keeps them in the statistics"),
    WrongFix(MASKED_STARTER.replace(_MASKED_RETURN, "    return (adv - adv.mean(dim=0)) / (adv.std(dim=0) + 1e-8)\n"),
             "per-env (per column) statistics, fake steps included"),
    WrongFix(MASKED_STARTER.replace(_MASKED_RETURN, "    real = adv[valid > 0]\n    return adv - real.mean()\n"),
             "centres without scaling"),
    WrongFix(MASKED_STARTER.replace(_MASKED_RETURN, "    real = adv[valid > 0]\n"
                                                    "    return adv / (real.std() + 1e-8)\n"),
             "scales without centring"),
)

MASKED_ALTERNATIVES = (
    MASKED_STARTER.replace(_MASKED_RETURN, "    real = adv[valid.bool()]\n"
                                           "    mean, std = real.mean(), real.std(unbiased=False)\n"
                                           "    return (adv - mean) / (std + 1e-8) * valid\n"),
)

MASKED_HINTS = (
    "Your function returns `adv` untouched. Which two statistics does the docstring ask you to remove, and "
    "over which entries? Remember that the steps with valid == 0 hold meaningless values.",
    "Select the real steps first (a boolean mask built from `valid`), take their mean and standard deviation, "
    "and standardise the whole tensor with those two numbers, adding 1e-8 to the std. Prefer the population "
    "std (divide by the number of real steps), which is 0, not NaN, when only one step is real.",
    "`real = adv[valid > 0]`, `std = real.std(correction=0)`, then "
    "`return (adv - real.mean()) / (std + 1e-8)`.",
)

NORMALISE_ADVANTAGES = Exercise(
    id="06.normalise_advantages",
    title="Unnormalised advantages",
    func_name="normalise_advantages",
    starter=MASKED_STARTER,
    reference=MASKED_REFERENCE,
    explanation=MASKED_EXPLANATION,
    make_cases=_masked_cases,
    probe=_masked_probe,
    judge=_masked_judge,
    wrong_fixes=MASKED_WRONG,
    alternatives=MASKED_ALTERNATIVES,
    hints=MASKED_HINTS,
)


# ---------------------------------------------------------------------------------------------------------------
# 06.one_sample_nan
# ---------------------------------------------------------------------------------------------------------------
def _batch(seed: int, size: int, constant: float | None = None) -> torch.Tensor:
    if constant is not None:
        return torch.full((size,), constant)
    return randn(generator(seed), size, scale=5.0, shift=3.0)


def _nan_cases(seed: int) -> list[Case]:
    return [
        Case("random batch of 10", _batch(seed, 10)),
        Case("one sample (the last minibatch of an epoch)", _batch(seed + 1, 1)),
        Case("all values equal", _batch(seed, 6, constant=2.5)),
        Case("two samples", _batch(seed + 2, 2)),
    ]


def _nan_probe(func, case: Case) -> Observation:
    x: torch.Tensor = case.data
    return {"out": as_tensor(func(x.clone()), "your result", tuple(x.shape))}


def _nan_judge(got: Observation, want: Observation, case: Case) -> str | None:
    x: torch.Tensor = case.data
    out = torch.as_tensor(got["out"], dtype=torch.float64)
    if x.numel() == 1:
        if has_nan_or_inf(out):
            return (f"for the single sample x = [{fmt(x[0])}] your result is [{fmt(out[0])}], expected [0]: a step of "
                    "your computation is NaN for a batch of one, and a NaN stays NaN whatever is added to it")
        if close(out, torch.zeros_like(out)):
            return None
        return (f"for the single sample x = [{fmt(x[0])}] your result is [{fmt(out[0])}], expected [0]: one sample "
                "minus its own mean is 0")
    if has_nan_or_inf(out):
        if bool((x == x[0]).all()):
            return (f"your result is NaN or inf when all {x.numel()} values are equal (std 0), expected zeros: "
                    "nothing keeps that division finite")
        return "your result contains NaN or inf"
    if _either_std(out, x):
        return None
    problem = mismatch(out, want["out"], "result")
    return problem + "; compare with the formula in the docstring"


NAN_STARTER = dedent('''\
    import torch


    def normalise(x, eps=1e-8):
        """Standardise a batch: (x - mean(x)) / (std(x) + eps).

        x:       (B,) values, B >= 1 (the last minibatch of an epoch can hold a single sample)
        eps:     small constant > 0 that keeps the division finite when the std is 0
        returns: (B,) finite values with mean 0: zeros when B == 1 or when all values are equal.
                 Either std convention (divide by B or by B - 1) is fine for B >= 2.
        """
        return (x - x.mean()) / (x.std() + eps)
''')

NAN_REFERENCE = dedent('''\
    import torch


    def normalise(x, eps=1e-8):
        """Standardise a (B,) batch, finite for B == 1; shapes as in the starter."""
        # population std (divide by B): 0, not NaN, for a single sample
        std = x.std(correction=0)
        # x_hat = (x - mean) / (std + eps)
        return (x - x.mean()) / (std + eps)
''')

NAN_EXPLANATION = dedent('''\
    torch.Tensor.std() uses Bessel's correction by default: it divides the sum of squares by B - 1, the
    unbiased estimate of a population variance from a sample. For B = 1 that is 0 / 0 = NaN, and NaN + eps is
    still NaN, so the eps that was meant to protect the division does nothing. One NaN advantage makes the
    loss NaN, the gradients NaN and every parameter NaN after the next step, with no error raised. A one-sample
    minibatch is not exotic: a batch size that does not divide the rollout leaves one. Use the population std
    (correction=0), which is 0 for one sample, so (x - mean) / (0 + eps) = 0; or drop/skip tiny minibatches.
''')

_NAN_RETURN = "    return (x - x.mean()) / (x.std() + eps)\n"
NAN_WRONG = (
    WrongFix(NAN_STARTER.replace(_NAN_RETURN, "    return (x - x.mean()) / x.std().clamp(min=eps)\n"),
             "clamping the std: clamp(NaN) is still NaN"),
    WrongFix(NAN_STARTER.replace(_NAN_RETURN, "    if x.numel() == 1:\n        return x\n" + _NAN_RETURN),
             "returns a single sample unnormalised"),
    WrongFix(NAN_STARTER.replace(_NAN_RETURN, "    return (x - x.mean()) / x.std(correction=0)\n"),
             "population std but eps dropped: 0 / 0 for one sample or a constant batch"),
    WrongFix(NAN_STARTER.replace(_NAN_RETURN, "    return (x - x.mean()) / (x.var(correction=0) + eps)\n"),
             "divides by the variance instead of the std"),
)

NAN_ALTERNATIVES = (
    NAN_STARTER.replace(_NAN_RETURN, "    if x.numel() < 2:\n        return torch.zeros_like(x)\n" + _NAN_RETURN),
    NAN_STARTER.replace(_NAN_RETURN, "    return (x - x.mean()) / (x.std(unbiased=False) + eps)\n"),
)

NAN_HINTS = (
    "Work out `x.std()` by hand for a batch of one value: what does torch divide the sum of squared "
    "deviations by? Then ask why adding eps afterwards cannot repair the result.",
    "By default torch's std() applies Bessel's correction and divides by B - 1, which is 0 when B = 1: "
    "0 / 0 is NaN, and NaN + eps is still NaN. The population std divides by B instead and is 0 for one "
    "sample, so the eps then does its job.",
    "`std = x.std(correction=0)`, then `return (x - x.mean()) / (std + eps)`.",
)

ONE_SAMPLE_NAN = Exercise(
    id="06.one_sample_nan",
    title="Normalisation turns a one-sample batch into NaN",
    func_name="normalise",
    starter=NAN_STARTER,
    reference=NAN_REFERENCE,
    explanation=NAN_EXPLANATION,
    make_cases=_nan_cases,
    probe=_nan_probe,
    judge=_nan_judge,
    wrong_fixes=NAN_WRONG,
    alternatives=NAN_ALTERNATIVES,
    hints=NAN_HINTS,
)


# ---------------------------------------------------------------------------------------------------------------
# 06.frozen_obs_norm
# ---------------------------------------------------------------------------------------------------------------
class RunningStats:
    """Running mean and (population) variance of observations, merged batch by batch.

    mean, var: (obs_dim,) float32; count: number of observations merged so far.
    """

    def __init__(self, mean: torch.Tensor, var: torch.Tensor, count: float) -> None:
        self.mean, self.var, self.count = mean.clone(), var.clone(), float(count)

    def update(self, obs: torch.Tensor) -> None:
        """Merge a (B, obs_dim) batch (Chan et al.'s parallel update of mean and variance)."""
        obs = torch.as_tensor(obs, dtype=torch.float32)
        n = obs.shape[0]
        batch_mean, batch_var = obs.mean(dim=0), obs.var(dim=0, correction=0)
        total = self.count + n
        delta = batch_mean - self.mean
        # mean = mean_a + delta * n_b / n;  M2 = M2_a + M2_b + delta^2 * n_a * n_b / n
        new_mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.mean, self.var, self.count = new_mean, m2 / total, total


@dataclass(frozen=True)
class NormaliserRun:
    """Initial statistics and a sequence of (obs batch (B, obs_dim), training flag) calls."""

    mean: torch.Tensor
    var: torch.Tensor
    count: float
    calls: tuple[tuple[torch.Tensor, bool], ...]


def _normaliser_run(seed: int, pattern: tuple[bool, ...]) -> NormaliserRun:
    g = generator(seed)
    obs_dim = 3
    calls = tuple((randn(g, 5, obs_dim, scale=3.0, shift=2.0), training) for training in pattern)
    return NormaliserRun(randn(g, obs_dim), randn(g, obs_dim).abs() + 0.5, 50.0, calls)


def _frozen_cases(seed: int) -> list[Case]:
    return [
        Case("train, evaluate, evaluate, train", _normaliser_run(seed, (True, False, False, True))),
        Case("evaluation only", _normaliser_run(seed + 1, (False, False))),
        Case("training only", _normaliser_run(seed + 2, (True, True))),
    ]


def _frozen_probe(func, case: Case) -> Observation:
    d: NormaliserRun = case.data
    rms = RunningStats(d.mean, d.var, d.count)
    outs, means, vars_ = [], [], []
    for obs, training in d.calls:
        out = func(rms, obs.clone(), training)
        outs.append(as_tensor(out, "your normalised observations", tuple(obs.shape)))
        if not isinstance(rms.mean, torch.Tensor) or not isinstance(rms.var, torch.Tensor):
            raise CheckFailure("rms.mean and rms.var must stay tensors; update them only through rms.update(obs)")
        means.append(as_tensor(rms.mean, "rms.mean"))
        vars_.append(as_tensor(rms.var, "rms.var"))
    return {"outs": outs, "means": means, "vars": vars_}


def _frozen_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: NormaliserRun = case.data
    previous_mean = d.mean.double()
    for k, (obs, training) in enumerate(d.calls):
        call = f"call {k + 1} (training={training})"
        if not (close(got["means"][k], want["means"][k]) and close(got["vars"][k], want["vars"][k])):
            if not training and not close(got["means"][k], previous_mean):
                before = torch.as_tensor(previous_mean, dtype=torch.float64).flatten()
                after = torch.as_tensor(got["means"][k], dtype=torch.float64).flatten()
                return (f"{call}: rms.mean[0] changed from {fmt(before[0])} to {fmt(after[0])} during evaluation, "
                        "so the agent would be evaluated with a different normaliser from the one it was "
                        "trained with")
            if training and close(got["means"][k], previous_mean):
                return f"{call}: the running statistics did not change while collecting training data"
            return f"{call}: the running statistics after this call differ from the expected ones"
        previous_mean = torch.as_tensor(got["means"][k], dtype=torch.float64)
        if not close(got["outs"][k], want["outs"][k]):
            if any(close(got["outs"][k], standardise(obs, u, dim=0)) for u in (True, False)):
                return (f"{call}: your output matches the batch normalised with its own mean and std, not with "
                        "the running statistics")
            problem = mismatch(got["outs"][k], want["outs"][k], "normalised obs")
            return (f"{call}: {problem}; expected (obs - rms.mean) / sqrt(rms.var + 1e-8) with the statistics "
                    "after this call's update")
    return None


FROZEN_STARTER = dedent('''\
    import torch


    def normalise_obs(rms, obs, training):
        """Normalise observations with running statistics.

        rms:      running statistics: rms.mean and rms.var are (obs_dim,) tensors; rms.update(obs) merges a
                  (B, obs_dim) batch into them
        obs:      (B, obs_dim) observations
        training: True while collecting training data (the statistics follow the data); False during
                  evaluation (the statistics stay frozen)
        returns:  (B, obs_dim) (obs - rms.mean) / sqrt(rms.var + 1e-8), with the statistics after any update
        """
        rms.update(obs)
        return (obs - rms.mean) / torch.sqrt(rms.var + 1e-8)
''')

FROZEN_REFERENCE = dedent('''\
    import torch


    def normalise_obs(rms, obs, training):
        """Normalise (B, obs_dim) observations; update the statistics only when training."""
        if training:
            rms.update(obs)
        # obs_hat = (obs - mu) / sqrt(sigma^2 + eps)
        return (obs - rms.mean) / torch.sqrt(rms.var + 1e-8)
''')

FROZEN_EXPLANATION = dedent('''\
    The observation normaliser is part of the trained agent: the policy learned to act on observations
    scaled by *these* statistics. If evaluation keeps updating them, the inputs the policy sees drift with
    whatever the evaluation episodes happen to contain, so the same agent scores differently depending on
    how long you evaluate it, and evaluation data leaks into the agent. Update only while collecting training
    data; freeze (and save) the statistics with the weights, and load them for evaluation.
''')

_FROZEN_BODY = "    rms.update(obs)\n    return (obs - rms.mean) / torch.sqrt(rms.var + 1e-8)\n"
FROZEN_WRONG = (
    WrongFix(FROZEN_STARTER.replace(_FROZEN_BODY, "    if not training:\n        rms.update(obs)\n"
                                                  "    return (obs - rms.mean) / torch.sqrt(rms.var + 1e-8)\n"),
             "the condition inverted"),
    WrongFix(FROZEN_STARTER.replace(_FROZEN_BODY, "    out = (obs - rms.mean) / torch.sqrt(rms.var + 1e-8)\n"
                                                  "    if training:\n        rms.update(obs)\n    return out\n"),
             "normalises with the statistics from before this batch's update"),
    WrongFix(FROZEN_STARTER.replace(_FROZEN_BODY, "    if training:\n        rms.update(obs)\n"
                                                  "        return (obs - rms.mean) / torch.sqrt(rms.var + 1e-8)\n"
                                                  "    return (obs - obs.mean(0)) / (obs.std(0) + 1e-8)\n"),
             "evaluation normalises each batch with its own statistics"),
)

FROZEN_HINTS = (
    "Look at where `rms.update(obs)` is called: on every call, whatever `training` says. Which calls should "
    "change the running statistics, and which should leave them as they are?",
    "Evaluation must use the normaliser exactly as training left it. Merge a batch into the statistics only "
    "while collecting training data, then normalise with the statistics as they are after that (possible) "
    "update.",
    "Guard the update with the flag: `if training:` then `rms.update(obs)` inside it; the `return` line "
    "stays as it is.",
)

FROZEN_OBS_NORM = Exercise(
    id="06.frozen_obs_norm",
    title="The observation normaliser keeps learning during evaluation",
    func_name="normalise_obs",
    starter=FROZEN_STARTER,
    reference=FROZEN_REFERENCE,
    explanation=FROZEN_EXPLANATION,
    make_cases=_frozen_cases,
    probe=_frozen_probe,
    judge=_frozen_judge,
    wrong_fixes=FROZEN_WRONG,
    hints=FROZEN_HINTS,
)

EXERCISES = (NORMALISE_ADVANTAGES, ONE_SAMPLE_NAN, FROZEN_OBS_NORM)
