"""Notebook 05 (trust regions): an update with no trust region, and a KL formula that counts pi_old twice."""
from __future__ import annotations

import math
from dataclasses import dataclass
from textwrap import dedent

import torch

from .compare import as_tensor, close, fmt, has_nan_or_inf, mismatch
from .core import Case, CheckFailure, Exercise, Observation, WrongFix
from .inputs import categorical, generator, randn


def mean_categorical_kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """Exact mean_s KL(p(.|s) || q(.|s)) for (B, A) logits, float64: sum_a p (log p - log q), averaged over s."""
    logp = torch.log_softmax(logits_p.double(), dim=-1)
    logq = torch.log_softmax(logits_q.double(), dim=-1)
    return (logp.exp() * (logp - logq)).sum(dim=-1).mean()


# ---------------------------------------------------------------------------------------------------------------
# 05.trust_region_step
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineSearch:
    """Old logits (B, A), a proposed step (B, A) and the line-search settings."""

    logits_old: torch.Tensor
    step: torch.Tensor
    max_kl: float
    backtrack: float
    max_tries: int

    def candidate(self, beta: float) -> torch.Tensor:
        """logits_old + beta * step, float64."""
        return self.logits_old.double() + beta * self.step.double()


def _line_search(seed: int, batch: int, step_scale: float, max_kl: float, backtrack: float,
                 max_tries: int) -> LineSearch:
    g = generator(seed)
    n_actions = 5
    return LineSearch(randn(g, batch, n_actions), randn(g, batch, n_actions, scale=step_scale), max_kl,
                      backtrack, max_tries)


def _rare_action_boost() -> LineSearch:
    """A step that makes a rare action likely: KL(old || new) ~ 0.40 but KL(new || old) ~ 1.6."""
    return LineSearch(torch.tensor([[0.0, 0.0, -6.0]]), torch.tensor([[0.0, 0.0, 6.0]]), 0.5, 0.5, 10)


def _line_search_cases(seed: int) -> list[Case]:
    return [
        Case("large step: several halvings needed", _line_search(seed, 8, 3.0, 0.01, 0.5, 10)),
        Case("small step: already inside the trust region", _line_search(seed + 1, 8, 0.02, 0.05, 0.5, 10)),
        Case("huge step, only 2 tries: no update", _line_search(seed + 2, 4, 50.0, 0.001, 0.5, 2)),
        Case("backtrack = 0.8, max_kl = 0.02", _line_search(seed + 3, 6, 2.0, 0.02, 0.8, 30)),
        Case("a step that makes a rare action likely", _rare_action_boost()),
    ]


def _line_search_probe(func, case: Case) -> Observation:
    d: LineSearch = case.data
    out = func(d.logits_old.clone(), d.step.clone(), d.max_kl, d.backtrack, d.max_tries)
    new = as_tensor(out, "your new logits", tuple(d.logits_old.shape))
    return {"logits": new}


def _line_search_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: LineSearch = case.data
    new = torch.as_tensor(got["logits"], dtype=torch.float64)
    if close(new, want["logits"]):
        return None
    if has_nan_or_inf(new):
        return "your logits contain NaN or inf"
    kl = float(mean_categorical_kl(d.logits_old, new))
    if kl > d.max_kl * (1 + 1e-3) + 1e-9:
        full = " (that is the full proposed step)" if close(new, d.candidate(1.0)) else ""
        return (f"your update leaves the trust region: mean KL(pi_old || pi_new) = {fmt(kl)} > max_kl = "
                f"{fmt(d.max_kl)}{full}; nothing checked how far the step moves the policy")
    if close(new, d.logits_old) and not close(want["logits"], d.logits_old):
        return "you returned the old logits unchanged, but one of the allowed step sizes fits inside max_kl"
    betas = [d.backtrack**k for k in range(d.max_tries)]
    for beta in betas:
        if close(new, d.candidate(beta)):
            return (f"you took beta = {fmt(beta)}, but a larger beta in 1, backtrack, backtrack^2, ... keeps the "
                    "mean KL(pi_old || pi_new) within max_kl: your KL measures something larger than that")
    if close(new, d.candidate(betas[-1] * d.backtrack)) or close(new, d.candidate(betas[-1])):
        return (f"none of the {d.max_tries} allowed step sizes fits inside max_kl here, yet your function still "
                "changed the logits")
    problem = mismatch(new, want["logits"], "new logits")
    return problem + "; compare with what the docstring says to return"


LINE_STARTER = dedent('''\
    import torch


    def line_search_step(logits_old, step, max_kl, backtrack=0.5, max_tries=10):
        """Take a proposed step on categorical policy logits, but stay inside a KL trust region.

        logits_old: (B, A) logits of pi_old(. | s) for a batch of B states
        step:       (B, A) proposed change of the logits (e.g. a scaled policy gradient)
        max_kl:     trust-region radius delta > 0 on the mean KL: mean_s KL(pi_old(.|s) || pi_new(.|s))
        backtrack:  shrink factor in (0, 1); try beta = 1, backtrack, backtrack**2, ... (max_tries values)
        returns:    (B, A) logits_old + beta * step for the first (largest) tried beta whose mean KL <= max_kl,
                    or logits_old unchanged if none of the max_tries values satisfies the bound
        """
        return logits_old + step
''')

LINE_REFERENCE = dedent('''\
    import torch


    def line_search_step(logits_old, step, max_kl, backtrack=0.5, max_tries=10):
        """Backtracking line search in a KL trust region; shapes as in the starter."""
        logp_old = torch.log_softmax(logits_old, dim=-1)
        beta = 1.0
        for _ in range(max_tries):
            logits_new = logits_old + beta * step
            logp_new = torch.log_softmax(logits_new, dim=-1)
            # KL(pi_old || pi_new) = sum_a pi_old(a) (log pi_old(a) - log pi_new(a)), averaged over states
            kl = (logp_old.exp() * (logp_old - logp_new)).sum(dim=-1).mean()
            if kl <= max_kl:
                return logits_new
            beta *= backtrack
        return logits_old
''')

LINE_EXPLANATION = dedent('''\
    A gradient says which direction improves the surrogate *near* the current policy; it says nothing about
    how far that stays true. Taking the full step can change the policy so much that the data (collected by
    pi_old) no longer describes it, and performance collapses. A trust region measures the step where it
    matters, in the distribution: the mean KL(pi_old || pi_new) over the visited states. This backtracking
    search tries beta = 1, then shrinks it geometrically until the step fits inside max_kl, and gives up (no
    update) if nothing fits. It is the KL half of TRPO's line search: TRPO accepts a fraction only if, in
    addition, the surrogate objective measured on the batch has improved (the quadratic model behind the
    proposed step can be wrong in both respects). Note that a Euclidean bound on the step (gradient-norm
    clipping) is not the same thing: the same logit change can be a tiny or a huge change of the policy,
    depending on where it starts. PPO replaces the explicit search with the clipped objective, plus KL
    monitoring.
''')

_LINE_RETURN = "    return logits_old + step\n"
_LINE_LOOP = dedent('''\
    logp_old = torch.log_softmax(logits_old, dim=-1)
    beta = 1.0
    for _ in range(max_tries):
        logits_new = logits_old + beta * step
        logp_new = torch.log_softmax(logits_new, dim=-1)
        kl = {kl}
        if kl <= max_kl:
            return logits_new
        beta *= backtrack
    return {fallback}
''')


def _line_fix(kl: str, fallback: str = "logits_old") -> str:
    body = _LINE_LOOP.format(kl=kl, fallback=fallback)
    return LINE_STARTER.replace(_LINE_RETURN, "".join("    " + line + "\n" for line in body.splitlines()))


LINE_WRONG = (
    WrongFix(_line_fix("(logp_new.exp() * (logp_new - logp_old)).sum(dim=-1).mean()"),
             "KL the wrong way round: KL(pi_new || pi_old)"),
    WrongFix(_line_fix("(logp_old.exp() * (logp_old - logp_new)).sum()"),
             "sums the KL over states instead of averaging"),
    WrongFix(_line_fix("(logp_old.exp() * (logp_old - logp_new)).sum(dim=-1).mean()", fallback="logits_new"),
             "returns the last (still too large) step when nothing fits"),
    WrongFix(LINE_STARTER.replace(_LINE_RETURN,
                                  "    scale = min(1.0, max_kl / float(step.norm()))\n"
                                  "    return logits_old + scale * step\n"),
             "Euclidean step clipping instead of a KL trust region"),
)

LINE_HINTS = (
    "The `return` line adds the whole proposed step without ever measuring how much it changes the policy. "
    "Where would you compute the mean KL(pi_old || pi_new) of a candidate step, and what should happen when "
    "it is larger than max_kl?",
    "Try beta = 1, backtrack, backtrack**2, ... (at most max_tries values). For each candidate "
    "logits_old + beta * step, compute per state sum_a pi_old(a) (log pi_old(a) - log pi_new(a)) from "
    "log-softmaxes, average over states, and return the first candidate within max_kl; if none fits, give "
    "back the old logits unchanged.",
    "Replace the `return` line with a loop:\n\n```python\n"
    "logp_old = torch.log_softmax(logits_old, dim=-1)\n"
    "beta = 1.0\n"
    "for _ in range(max_tries):\n"
    "    logits_new = logits_old + beta * step\n"
    "    logp_new = torch.log_softmax(logits_new, dim=-1)\n"
    "    kl = (logp_old.exp() * (logp_old - logp_new)).sum(dim=-1).mean()\n"
    "    if kl <= max_kl:\n"
    "        return logits_new\n"
    "    beta *= backtrack\n"
    "return logits_old\n```",
)

TRUST_REGION_STEP = Exercise(
    id="05.trust_region_step",
    title="An update with no trust region",
    func_name="line_search_step",
    starter=LINE_STARTER,
    reference=LINE_REFERENCE,
    explanation=LINE_EXPLANATION,
    make_cases=_line_search_cases,
    probe=_line_search_probe,
    judge=_line_search_judge,
    wrong_fixes=LINE_WRONG,
    hints=LINE_HINTS,
)


# ---------------------------------------------------------------------------------------------------------------
# 05.kl_estimator
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KLSamples:
    """Sampled states and actions a ~ pi_old, with both policies' log-probabilities of them (all (N,))."""

    logp_old: torch.Tensor
    logp_new: torch.Tensor
    exact_kl: float  # mean over the sampled states of the exact KL(pi_old(.|s) || pi_new(.|s))

    def standard_error(self) -> float:
        """Larger of the standard errors of the k1 and k3 estimators on these samples."""
        log_r = self.logp_new.double() - self.logp_old.double()
        k1, k3 = -log_r, log_r.exp() - 1 - log_r
        n = log_r.numel()
        return max(float(k1.std()), float(k3.std())) / math.sqrt(n)


def _kl_samples(seed: int, n_states: int, spread: float, n: int = 20000) -> KLSamples:
    """Random categorical policies over 5 actions in ``n_states`` states, ``n`` samples (s, a ~ pi_old)."""
    g = generator(seed)
    logits_old = randn(g, n_states, 5, scale=1.0)
    logits_new = logits_old + randn(g, n_states, 5, scale=spread)
    states = torch.randint(n_states, (n,), generator=g)
    p_old = torch.softmax(logits_old, dim=-1)
    actions = categorical(g, p_old[states], n)
    lp_old = torch.log_softmax(logits_old, dim=-1)
    lp_new = torch.log_softmax(logits_new, dim=-1)
    exact = mean_categorical_kl(logits_old[states], logits_new[states])
    return KLSamples(lp_old[states, actions], lp_new[states, actions], float(exact))


def _kl_cases(seed: int) -> list[Case]:
    return [
        Case("close policies", _kl_samples(seed, 3, 0.3)),
        Case("far-apart policies", _kl_samples(seed + 1, 4, 1.5)),
        Case("very different policies", _kl_samples(seed + 2, 2, 2.5)),
    ]


def _kl_probe(func, case: Case) -> Observation:
    d: KLSamples = case.data
    out = func(d.logp_old.clone(), d.logp_new.clone())
    value = as_tensor(out, "your estimate")
    if value.numel() != 1:
        raise CheckFailure(f"your estimate has {value.numel()} entries; return one number (average over samples)")
    return {"estimate": float(value.reshape(()))}


def _kl_judge(got: Observation, want: Observation, case: Case) -> str | None:
    d: KLSamples = case.data
    est = got["estimate"]
    # 6 standard errors: a correct unbiased estimator (k1 or k3) misses with probability ~ 1e-9
    tolerance = 6 * d.standard_error() + 1e-6
    if math.isfinite(est) and abs(est - d.exact_kl) <= tolerance:
        return None
    if not math.isfinite(est):
        return "your estimate is NaN or inf"
    log_r = d.logp_new.double() - d.logp_old.double()
    if close(est, float(log_r.mean())):
        return (f"your estimate is {fmt(est)}, but the exact KL(pi_old || pi_new) of these policies is "
                f"{fmt(d.exact_kl)}: the same size with the opposite sign (a KL is never negative)")
    if close(est, float((d.logp_old.double().exp() * -log_r).mean())):
        share = est / d.exact_kl if d.exact_kl > 0 else float("nan")
        how = (f"only about {share:.0%} of it, as if every sample's term were scaled down by a number below 1"
               if 0 < share < 1 else "further off than sampling noise explains")
        return (f"your estimate is {fmt(est)}, but the exact KL(pi_old || pi_new) of these policies is "
                f"{fmt(d.exact_kl)} (+- {fmt(tolerance)} for sampling noise): {how}")
    return (f"your estimate is {fmt(est)}, but the exact KL(pi_old || pi_new) of these policies is "
            f"{fmt(d.exact_kl)} (+- {fmt(tolerance)} for sampling noise): the estimator is biased here")


KL_STARTER = dedent('''\
    import torch


    def approx_kl(logp_old, logp_new):
        """Sample estimate of KL(pi_old || pi_new) from actions drawn from pi_old.

        logp_old: (N,) log pi_old(a_i | s_i) of N sampled actions a_i ~ pi_old(. | s_i)
        logp_new: (N,) log pi_new(a_i | s_i) of the same actions
        returns:  0-dim tensor, an unbiased estimate of the mean KL over the sampled states
        """
        return (logp_old.exp() * (logp_old - logp_new)).mean()
''')

KL_REFERENCE = dedent('''\
    import torch


    def approx_kl(logp_old, logp_new):
        """The k3 estimate of KL(pi_old || pi_new) from samples a ~ pi_old; shapes as in the starter."""
        # log r = log pi_new(a) - log pi_old(a), for a ~ pi_old
        log_ratio = logp_new - logp_old
        # k3 = (r - 1) - log r: unbiased (E_old[r] = 1), never negative, low variance
        return ((log_ratio.exp() - 1.0) - log_ratio).mean()
''')

KL_EXPLANATION = dedent('''\
    KL(pi_old || pi_new) = E_{a ~ pi_old}[log pi_old(a) - log pi_new(a)]. The expectation over pi_old is done
    by *sampling* from pi_old: the rollout actions already are such samples, so the plain average of
    logp_old - logp_new (k1) is unbiased. The starter's formula multiplies by pi_old(a) once more, which
    counts the probability twice (for 5 equally likely actions it returns about a fifth of the KL). k1 can be
    negative on a batch; k3 = mean((r - 1) - log r) with r = pi_new / pi_old adds (r - 1), whose mean is 0
    under pi_old, so it stays unbiased. (r - 1) is a control variate: for nearby policies -log r is close to
    -(r - 1), so adding it cancels most of k1's sample-to-sample noise, hence the lower variance (every term
    is also >= 0).
    This is the approx_kl that PPO implementations log and use for early stopping.
''')

_KL_RETURN = "    return (logp_old.exp() * (logp_old - logp_new)).mean()\n"
KL_WRONG = (
    WrongFix(KL_STARTER.replace(_KL_RETURN, "    return (logp_new - logp_old).mean()\n"),
             "k1 with the sign flipped"),
    WrongFix(KL_STARTER.replace(_KL_RETURN, "    return 0.5 * ((logp_new - logp_old) ** 2).mean()\n"),
             "k2 is biased when the policies are far apart"),
    WrongFix(KL_STARTER.replace(_KL_RETURN, "    return (logp_old.exp() * (logp_old - logp_new)).sum()\n"),
             "the exact-KL sum applied to samples"),
    WrongFix(KL_STARTER.replace(_KL_RETURN, "    r = torch.exp(logp_old - logp_new)\n"
                                            "    return ((r - 1) - torch.log(r)).mean()\n"),
             "k3 with the ratio upside down"),
)

KL_HINTS = (
    "Look at the factor `logp_old.exp()` inside the average. The actions were already *sampled* from "
    "pi_old: what does a plain average over such samples estimate on its own?",
    "KL(pi_old || pi_new) = E_{a ~ pi_old}[log pi_old(a) - log pi_new(a)]. Averaging over actions drawn "
    "from pi_old already takes that expectation, so no extra weight is needed (this is k1). Adding (r - 1), "
    "with r = pi_new / pi_old, keeps the estimate unbiased, because its mean under pi_old is 0, and lowers its "
    "variance (this is k3).",
    "k3: `log_ratio = logp_new - logp_old`, then `return ((log_ratio.exp() - 1.0) - log_ratio).mean()`. "
    "The plain k1, `return (logp_old - logp_new).mean()`, passes too.",
)

KL_ESTIMATOR = Exercise(
    id="05.kl_estimator",
    title="A KL estimate that counts pi_old twice",
    func_name="approx_kl",
    starter=KL_STARTER,
    reference=KL_REFERENCE,
    explanation=KL_EXPLANATION,
    make_cases=_kl_cases,
    probe=_kl_probe,
    judge=_kl_judge,
    wrong_fixes=KL_WRONG,
    hints=KL_HINTS,
)

EXERCISES = (TRUST_REGION_STEP, KL_ESTIMATOR)
