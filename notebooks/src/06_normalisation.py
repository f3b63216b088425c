# %% [markdown]
# # 06 · Normalisation: advantages, rewards and observations
#
# **After this notebook you can**
# - normalise advantages per batch or per minibatch, and say exactly what that does to the policy gradient
#   (a baseline shift and a positive rescaling) and what it leaves alone (the ranking of actions, the value targets);
# - scale rewards by the running standard deviation of the discounted return, with the algorithm's own $\gamma$,
#   and explain with an experiment why rewards are scaled but **not shifted**;
# - normalise observations with running statistics, and freeze and save those statistics with the agent;
# - read a measured ablation of all three normalisations in PPO on Pendulum-v1 (5 seeds each, with 95 % bootstrap
#   confidence intervals);
# - find and fix three classic bugs: unnormalised advantages, a one-sample minibatch that turns into NaN, and an
#   observation normaliser that keeps learning during evaluation.
#
# **Prerequisites:** notebook 03 (advantages, baselines, GAE) and notebook 04 (PPO's clipped surrogate and its
# minibatch loop); what mean, variance and standard deviation are.
#
# **Time:** about 50 minutes to read and try. Running all cells takes **24 s** on a 2-core CPU without a GPU
# (measured from a fresh kernel by `make time-notebooks`, load average 1.07; a busier machine is slower). The
# long central experiment (25 training runs) was run once by `notebooks/scripts/nb06_pendulum_ablation.py`
# (`make data`) and is loaded, with a check that it still matches today's code.

# %%
import copy
import math
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import gymnasium as gym
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.func import functional_call, grad, vmap
from tqdm.auto import tqdm

from IPython.display import Markdown, display

from course_lib import exercises, normalisation, plots, quiz, stored_results
from course_lib.advantages import discounted_returns, gae
from course_lib.agent import ActorCriticAgent, AgentSpec
from course_lib.algos import ppo
from course_lib.algos.onpolicy import advantages_and_returns
from course_lib.claims import claim
from course_lib.envs import make_vec_env
from course_lib.losses import ppo_clip_loss, value_loss
from course_lib.networks import GaussianActor
from course_lib.normalisation import ObsNormaliser, RewardScaler, RunningMeanStd
from course_lib.rollout import RolloutCollector
from course_lib.stats import bootstrap_ci
from course_lib.evaluation import evaluate

torch.set_num_threads(1)
plots.use_course_style()
SEED = 0
SEEDS = (0, 1, 2, 3, 4)  # every live comparison below runs once per seed
torch.manual_seed(SEED)
np.set_printoptions(precision=4, suppress=True)


def fmt_ci(values, digits: int = 1) -> str:
    """'mean [low, high]': the mean over seeds with its 95 % bootstrap confidence interval."""
    ci = bootstrap_ci(np.asarray(values, dtype=float))
    return f"{ci.estimate:.{digits}f} [{ci.low:.{digits}f}, {ci.high:.{digits}f}]"

# %% [markdown]
# ## 1. Intuition and terms
#
# Think of a payroll office that pays people in a currency of its own choosing. Switching every salary from cents
# to euros changes every number on every pay slip, but nobody would pick a different job because of it: a
# **positive rescaling** keeps every comparison. Adding a fixed amount for every hour spent at work, or charging
# one, is different: it changes whether staying longer is worth it. A **shift** changes what people are paid *for*.
#
# PPO handles three streams of numbers whose size has nothing to do with how hard the task is:
#
# - **Advantages** $\hat A_t$ (how much better an action did than the critic expected) come in whatever units the
#   rewards have, and drift as the critic learns. PPO standardises them per minibatch, like grading one exam sitting
#   on a curve: each sample is measured against the others in the same minibatch. The ranking inside the sitting
#   survives; a small sitting gives a noisy curve.
# - **Rewards** are *divided* by a running estimate of the spread of the discounted return, so that the critic's
#   targets are of order 1 whatever the task's units. They are never shifted: that would be the payroll's hourly fee.
# - **Observations** are standardised feature by feature with running statistics, like a calibration sheet that
#   converts each sensor to common units. The sheet is part of the instrument: it is saved with the agent and not
#   changed while the agent is being tested.
#
# The diagram shows where each one sits in a PPO update (the orange boxes).

# %%
def draw_pipeline() -> None:
    """Where observation normalisation, reward scaling and advantage normalisation act in PPO."""
    fig, ax = plt.subplots(figsize=(10.5, 3.9))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.grid(False)
    plain, normaliser = "white", "#fbe3c0"

    def box(x: float, y: float, text: str, colour: str) -> None:
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5,
                bbox=dict(boxstyle="round,pad=0.45", fc=colour, ec="grey"))

    def arrow(x0: float, y0: float, x1: float, y1: float, label: str = "") -> None:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="dimgrey"))
        if label:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.04, label, ha="center", fontsize=8.5, color="dimgrey")

    box(0.06, 0.55, "environment", plain)
    box(0.25, 0.88, "observation $o$", plain)
    box(0.52, 0.88, "ObsNormaliser\n$\\mathrm{clip}((o-\\mu)/\\sigma)$\nfrozen + saved for evaluation", normaliser)
    box(0.84, 0.88, "actor $\\pi(a\\,|\\,\\tilde o)$\ncritic $V(\\tilde o)$", plain)
    box(0.25, 0.50, "reward $r$", plain)
    box(0.52, 0.50, "RewardScaler\n$r\\,/\\,\\mathrm{std}(G)$, no shift", normaliser)
    box(0.84, 0.50, "GAE$(\\gamma, \\lambda)$\n$\\hat A_t$,  $R_t = \\hat A_t + V_t$", plain)
    box(0.52, 0.10, "value loss\n$(V - R)^2$, raw $\\hat A$ inside $R$", plain)
    box(0.84, 0.10, "$(\\hat A - \\mathrm{mean})\\,/\\,\\mathrm{std}$\nper minibatch $\\rightarrow$ policy loss",
        normaliser)
    arrow(0.10, 0.62, 0.19, 0.84)
    arrow(0.12, 0.535, 0.20, 0.50)
    arrow(0.31, 0.88, 0.40, 0.88)
    arrow(0.64, 0.88, 0.75, 0.88)
    arrow(0.30, 0.50, 0.42, 0.50)
    arrow(0.63, 0.50, 0.76, 0.50)
    arrow(0.84, 0.79, 0.84, 0.60, "values")
    arrow(0.84, 0.40, 0.84, 0.21)
    arrow(0.77, 0.42, 0.60, 0.20, "targets")
    ax.set_title("The three normalisations in one PPO update", fontsize=11)
    plots.show(fig, alt="Diagram of where the three normalisations act in one PPO update: observations are "
                        "standardised by an ObsNormaliser before the actor and critic, rewards are divided "
                        "by the standard deviation of the return before GAE, and advantages are normalised "
                        "per minibatch just before the policy loss, while the value loss keeps the raw "
                        "advantages inside its targets.")


draw_pipeline()

# %% [markdown]
# **Key terms**
#
# | term | meaning here |
# |---|---|
# | standardise | subtract a mean and divide by a standard deviation, so the numbers have mean 0 and std 1 |
# | advantage normalisation | standardising the advantages of one batch or minibatch before the policy loss |
# | per batch / per minibatch | statistics from the whole rollout, or from each minibatch of a PPO epoch |
# | population std | $\sqrt{\frac1B\sum_i (x_i-\bar x)^2}$; the *sample* std divides by $B-1$ instead (torch's default) |
# | reward scaling | dividing rewards by a positive number (here: a running std of the discounted return) |
# | reward shifting / centring | adding a constant to every reward, e.g. subtracting their mean: changes the task in episodic settings |
# | running statistics | mean and variance updated batch by batch, equal to those of everything seen so far |
# | observation normalisation | standardising each observation feature with running statistics, clipped to $\pm 10$ |
# | freezing | stopping the updates of running statistics (evaluation, deployment) |

# %% [markdown]
# ## 2. The maths
#
# ### 2.1 Advantage normalisation and the gradient
#
# For a (mini)batch of $B$ samples with advantages $\hat A_i$,
# $$\mu = \frac1B\sum_i \hat A_i,\qquad \sigma = \sqrt{\frac1B\sum_i(\hat A_i-\mu)^2},\qquad
# \hat A_i^{norm} = \frac{\hat A_i-\mu}{\sigma+\epsilon},\quad \epsilon = 10^{-8}.$$
# Write $\ell_i = \nabla_\theta\log\pi_\theta(a_i|s_i)$ for one sample's score. The policy-gradient estimate of
# the batch is $\hat g = \frac1B\sum_i \ell_i\hat A_i$; with normalised advantages it becomes
# $$\hat g^{norm} = \frac1B\sum_i \ell_i\,\frac{\hat A_i-\mu}{\sigma+\epsilon}
#   = \frac{1}{\sigma+\epsilon}\Big(\hat g - \mu\,\bar\ell\Big),\qquad \bar\ell = \frac1B\sum_i\ell_i .$$
# Two separate things happen.
#
# 1. **Centring** subtracts $\mu\,\bar\ell$. For every state, $\mathbb{E}_{a\sim\pi(\cdot|s)}[\nabla_\theta\log\pi_\theta(a|s)]
#    = \nabla_\theta\sum_a\pi_\theta(a|s) = \nabla_\theta 1 = 0$ (an integral for continuous actions), so $\bar\ell$
#    averages to zero: the removed term is noise on average. It is a batch-wide baseline, the idea of notebook 03
#    (strictly, $\mu$ is computed from the same samples, which adds a bias of order $1/B$). On a finite batch the
#    removed term is not zero, and when all advantages share a sign it can dominate the estimate (section 4.2).
# 2. **Scaling** by $1/(\sigma+\epsilon) > 0$ is the same for every sample: the direction is unchanged, only the
#    length. With plain SGD that is a learning rate that adapts per batch. PPO uses **Adam**, whose step
#    $m_t/(\sqrt{v_t}+\epsilon_{Adam})$ does not change when every gradient is multiplied by the same constant (checked
#    below), as long as the gradients stay well above $\epsilon_{Adam}$ (section 4.6 meets a case where they do not).
#    So under Adam the scale matters only *relative to something*: between batches (a batch with huge advantages no
#    longer outweighs the others) and against the other terms of the loss (the entropy bonus $c_2 H$ and, with a
#    shared network or one global gradient-norm clip, the value loss).
#
# What normalisation **does not change**: the order of the advantages inside the batch, the ratio and the clip,
# and the critic's targets $R_t = \hat A_t + V(s_t)$, which are built from the *raw* advantages. What it **does
# change**: the sign of every advantage between $0$ and $\mu$ (actions are judged against the batch average).
#
# ### 2.2 Reward scaling, and why not shifting
#
# Per environment, keep the discounted sum of rewards since the episode started, and divide each reward by its
# running standard deviation:
# $$G_t = \gamma\,G_{t-1}\,(1-d_{t-1}) + r_t,\qquad \tilde r_t = \mathrm{clip}\Big(\frac{r_t}{\sqrt{\mathrm{Var}[G]+\epsilon}},\,-10,\,10\Big),$$
# with $d$ the episode-end flag and $\mathrm{Var}[G]$ the running variance of all $G$ seen so far.
#
# *Why it is harmless.* Returns, values, TD errors $\delta_t = r_t + \gamma V(s_{t+1}) - V(s_t)$ and GAE advantages are
# all linear in the rewards: multiply every reward by $c > 0$ and all of them are multiplied by $c$ (for the critic
# that has learned $cV$). No policy becomes better or worse than another.
#
# *Why the return's std, with the algorithm's $\gamma$.* The critic regresses on returns, so dividing by the spread of
# the return makes its targets of order 1. That spread depends on $\gamma$: a discounted sum of rewards of size $m$
# is of size about $m/(1-\gamma)$, so a scaler that uses $\gamma = 0.99$ for an agent with $\gamma = 0.9$ divides by a
# number about ten times too large (section 4.3 measures it).
#
# *Why not shift.* Add a constant $b$ to every reward. If episodes only end by a time limit that is bootstrapped
# (or never end), every value moves by the same $b/(1-\gamma)$ and every TD error is unchanged:
# $$\delta^{b}_t = (r_t + b) + \gamma\Big(V(s_{t+1}) + \tfrac{b}{1-\gamma}\Big) - V(s_t) - \tfrac{b}{1-\gamma} = \delta_t .$$
# On a step that **terminates**, there is no next value to absorb the shift:
# $\delta^{b}_t = r_t + b - V(s_t) - \frac{b}{1-\gamma} = \delta_t - \frac{\gamma\, b}{1-\gamma}$. Ending the episode
# is penalised when $b > 0$ and rewarded when $b < 0$. With a constant reward $c$ per step, an episode of length $k$ is
# worth
# $$G(k) = c\,\frac{1-\gamma^{k}}{1-\gamma},$$
# which grows with $k$ if $c > 0$, does not depend on $k$ if $c = 0$, and shrinks with $k$ if $c < 0$. In an episodic
# task the sign of the per-step reward decides whether the agent wants its episodes long or short.
#
# ### 2.3 Observation normalisation with running statistics
#
# Merging the moments of what was seen so far ($\mu_a, \sigma^2_a, n_a$) with a new batch ($\mu_b, \sigma^2_b, n_b$),
# with $n = n_a + n_b$ and $\Delta = \mu_b - \mu_a$ (Chan, Golub & LeVeque 1979):
# $$\mu = \mu_a + \Delta\,\frac{n_b}{n},\qquad \sigma^2 = \frac{\sigma^2_a n_a + \sigma^2_b n_b + \Delta^2\, n_a n_b / n}{n}.$$
# This is exact: after any sequence of batches, $\mu$ and $\sigma^2$ are the mean and variance of all samples.
# Each feature is then mapped to $\tilde o = \mathrm{clip}\big((o-\mu)/\sqrt{\sigma^2+\epsilon},\,-10,\,10\big)$. The
# agent's policy is really $\pi_\theta(a \mid \tilde o(o;\mu,\sigma))$: $\mu$ and $\sigma$ are parameters of the
# policy, learned from data but not by gradient descent. They are saved with the weights and frozen for evaluation.
#
# The next cell checks the gradient identity of 2.1 with autograd, that the expected score is zero, and Adam's
# indifference to a constant factor on the loss.

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(SEED)
tiny = GaussianActor(obs_dim=3, act_dim=1, hidden=(8,))
obs_tiny = torch.randn(32, 3)
with torch.no_grad():
    act_tiny, _ = tiny.act(obs_tiny)
adv_tiny = 3.0 * torch.randn(32) - 5.0  # mostly negative, as with a critic that knows nothing yet


def flat_grad(loss: torch.Tensor, module: torch.nn.Module) -> torch.Tensor:
    """All parameter gradients of `loss` with respect to `module`, flattened into one vector."""
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(module.parameters()))])


def logp_tiny() -> torch.Tensor:
    """log pi(a_i|s_i) of the tiny batch, (32,), with gradient."""
    return tiny.log_prob(tiny.distribution(obs_tiny), act_tiny)


mu, sigma = adv_tiny.mean(), adv_tiny.std(correction=0)
g_norm = flat_grad(-(logp_tiny() * (adv_tiny - mu) / (sigma + 1e-8)).mean(), tiny)
g_raw = flat_grad(-(logp_tiny() * adv_tiny).mean(), tiny)
g_score = flat_grad(-logp_tiny().mean(), tiny)  # -l_bar
# g_norm = (g_raw - mu * l_bar) / (sigma + eps), written for the losses (all gradients carry the same minus sign)
print("gradient with normalised advantages == (g_raw - mu * l_bar) / sigma:",
      torch.allclose(g_norm, (g_raw - mu * g_score) / (sigma + 1e-8), atol=1e-6))

# E_a[grad log pi(a|s)] = sum_a pi(a|s) grad log pi(a|s) = 0, exactly, for a categorical policy
logits = torch.tensor([0.3, -1.2, 2.0, 0.1], requires_grad=True)
probs = torch.softmax(logits, 0).detach()
expected_score = sum(probs[a] * torch.autograd.grad(torch.log_softmax(logits, 0)[a], logits)[0] for a in range(4))
print(f"|E_a[grad log pi]| for a categorical policy, exact sum over actions: {expected_score.norm().item():.4f}")
print(f"|l_bar| on one batch of 32 sampled actions (Gaussian actor):          {g_score.norm().item():.4f}")


def parameter_change(loss_factor: float, optimiser: str, steps: int = 5) -> torch.Tensor:
    """Parameter change of a fresh copy of `tiny` after `steps` steps on loss_factor * (policy loss)."""
    model = copy.deepcopy(tiny)
    start = torch.cat([p.detach().flatten() for p in model.parameters()])
    opt = (torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-5) if optimiser == "adam"
           else torch.optim.SGD(model.parameters(), lr=1e-3))
    for _ in range(steps):
        logp = model.log_prob(model.distribution(obs_tiny), act_tiny)
        loss = -loss_factor * (logp * (adv_tiny - mu) / (sigma + 1e-8)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()]) - start


change_ratio = {}
for name in ("adam", "sgd"):
    change_1, change_100 = parameter_change(1.0, name), parameter_change(100.0, name)
    change_ratio[name] = (change_100.norm() / change_1.norm()).item()
    print(f"{name}: size of the parameter change with the loss x 100, relative to x 1: {change_ratio[name]:.4f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("The first line is the identity of 2.1",
      torch.allclose(g_norm, (g_raw - mu * g_score) / (sigma + 1e-8), atol=1e-6),
      f"max difference {(g_norm - (g_raw - mu * g_score) / (sigma + 1e-8)).abs().max().item():.1e}")
claim("The expected score is zero when the sum runs over all actions, but a batch average of sampled actions is not",
      expected_score.norm().item() < 1e-6 and g_score.norm().item() > 0.05,
      f"exact {expected_score.norm().item():.1e}, batch of 32 {g_score.norm().item():.3f}")
claim("multiplying the loss by 100 leaves five Adam steps at about the same size",
      abs(change_ratio["adam"] - 1) < 0.1, f"Adam ratio {change_ratio['adam']:.3f} (tolerance 1 ± 0.1)")
claim("five SGD steps become roughly 100 times larger",
      80 < change_ratio["sgd"] < 120, f"SGD ratio {change_ratio['sgd']:.1f} (tolerance 80 to 120)")

# %% [markdown]
# The first line is the identity of 2.1. The expected score is zero when the sum runs over all actions, but a batch
# average $\bar\ell$ of sampled actions is not, which is why the $\mu\,\bar\ell$ term matters on real batches. The
# last two lines: multiplying the loss by 100 leaves five Adam steps at about the same size (Adam's $\epsilon$ keeps
# it from being exact), while five SGD steps become roughly 100 times larger.
#
# ## 3. Build it
#
# ### 3.1 Advantage normalisation
#
# Written small first. It takes an optional `valid` mask, because a Gymnasium 1.x vector env inserts one fake
# step after every episode end (notebook 03) that must not count in the statistics. The standard deviation is the
# population one: for a single sample it is 0, and $(x-\mu)/(0+\epsilon) = 0$, while torch's default `std()`
# divides by $B-1 = 0$ and returns NaN.

# %%
def normalise_adv_small(adv: torch.Tensor, valid: torch.Tensor | None = None, eps: float = 1e-8) -> torch.Tensor:
    """(A - mean) / (std + eps) with mean and population std over the valid entries. adv, valid: any shape."""
    real = adv if valid is None else adv[valid]
    # mu = mean of the valid advantages
    mean = real.mean()
    # sigma = sqrt(mean((A - mu)^2)), the population std: 0 (not NaN) for a single sample
    std = (real - mean).pow(2).mean().sqrt()
    # A_norm = (A - mu) / (sigma + eps)
    return (adv - mean) / (std + eps)


# %% [markdown]
# Compared with `course_lib.normalisation.normalise_advantages` on a rollout-shaped batch with fake steps, on one
# sample, and on a constant batch:

# %%
# NBVAL_CHECK_OUTPUT
g = torch.Generator().manual_seed(SEED)
adv_rollout = 20.0 * torch.randn(16, 4, generator=g, dtype=torch.float64) - 30.0  # (T, N)
valid_rollout = torch.rand(16, 4, generator=g) > 0.1
mine = normalise_adv_small(adv_rollout, valid_rollout)
lib = normalisation.normalise_advantages(adv_rollout, valid_rollout)
print("rollout (16, 4), masked: equal to course_lib:", torch.allclose(mine, lib, atol=1e-12),
      f"| valid entries now have mean {mine[valid_rollout].mean().item():.4f}, "
      f"std {mine[valid_rollout].std(correction=0).item():.4f}")
one = torch.tensor([3.7], dtype=torch.float64)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # torch warns about the zero degrees of freedom
    print(f"one sample: mine {normalise_adv_small(one).item():.4f}, course_lib "
          f"{normalisation.normalise_advantages(one).item():.4f}, with torch's default std() "
          f"{((one - one.mean()) / (one.std() + 1e-8)).item()}")
const = torch.full((5,), 2.5, dtype=torch.float64)
print("constant batch:", normalise_adv_small(const).tolist(), normalisation.normalise_advantages(const).tolist())

# %% tags=["claim"] jupyter={"source_hidden": true}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    default_std_one = ((one - one.mean()) / (one.std() + 1e-8)).item()
claim("Compared with `course_lib.normalisation.normalise_advantages`: the two agree, on the masked rollout, "
      "on one sample and on a constant batch",
      torch.allclose(mine, lib, atol=1e-12)
      and normalise_adv_small(one).item() == normalisation.normalise_advantages(one).item() == 0.0
      and bool((normalise_adv_small(const) == 0).all() and (normalisation.normalise_advantages(const) == 0).all()),
      f"max difference on the rollout {(mine - lib).abs().max().item():.1e}; one sample -> 0; constant -> 0")
claim("for a single sample [the population std] is 0, while torch's default `std()` divides by $B-1 = 0$ and "
      "returns NaN", math.isnan(default_std_one), f"torch's default gives {default_std_one}")

# %% [markdown]
# ### 3.2 Running statistics
#
# The merge formula of 2.3 as a small class, checked against numpy on all the data at once and against
# `course_lib.normalisation.RunningMeanStd`, on observations shaped like Pendulum's (two features in $[-1, 1]$ and an
# angular velocity in $[-8, 8]$) fed in chunks of random sizes.

# %%
class RunningMoments:
    """Mean and population variance of every sample seen, shape (dim,), merged batch by batch (Chan et al.)."""

    def __init__(self, dim: int) -> None:
        self.mean, self.var, self.count = np.zeros(dim), np.ones(dim), 0.0

    def update(self, x: np.ndarray) -> None:
        """Merge a batch x of shape (B, dim)."""
        n_a, n_b = self.count, float(len(x))
        n = n_a + n_b
        delta = x.mean(axis=0) - self.mean
        # mu = mu_a + delta * n_b / n
        self.mean = self.mean + delta * n_b / n
        # var = (var_a n_a + var_b n_b + delta^2 n_a n_b / n) / n
        self.var = (self.var * n_a + x.var(axis=0) * n_b + delta**2 * n_a * n_b / n) / n
        self.count = n


# %%
# NBVAL_CHECK_OUTPUT
rng = np.random.default_rng(SEED)
angles = rng.uniform(-np.pi, np.pi, 1000)
data = np.stack([np.cos(angles), np.sin(angles), rng.uniform(-8, 8, 1000)], axis=1)  # (1000, 3)
mine, lib = RunningMoments(3), RunningMeanStd(3)
cuts = np.sort(rng.choice(np.arange(1, 1000), size=12, replace=False))
for chunk in np.split(data, cuts):
    mine.update(chunk)
    lib.update(chunk)
print("chunk sizes:", [len(c) for c in np.split(data, cuts)])
for name, (m, v) in {"numpy": (data.mean(axis=0), data.var(axis=0)), "mine": (mine.mean, mine.var),
                     "course_lib": (lib.mean, lib.var)}.items():
    print(f"{name:10s}  mean {m}  var {v}")
print("all three agree:", np.allclose(mine.mean, data.mean(0)) and np.allclose(mine.var, data.var(0))
      and np.allclose(lib.mean, mine.mean) and np.allclose(lib.var, mine.var))

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("This is exact: after any sequence of batches, $\\mu$ and $\\sigma^2$ are the mean and variance of all samples",
      bool(np.allclose(mine.mean, data.mean(0), atol=1e-12) and np.allclose(mine.var, data.var(0), atol=1e-12)
           and np.allclose(lib.mean, data.mean(0), atol=1e-9) and np.allclose(lib.var, data.var(0), atol=1e-9)),
      f"largest difference from numpy: mine {max(np.abs(mine.mean - data.mean(0)).max(), np.abs(mine.var - data.var(0)).max()):.1e}, "
      f"course_lib {max(np.abs(lib.mean - data.mean(0)).max(), np.abs(lib.var - data.var(0)).max()):.1e}")

# %% [markdown]
# ### 3.3 Reward scaling
#
# One call per environment step, for all $N$ environments at once: update each running discounted sum $G$, add
# the $G$ values to the running statistics, divide the rewards by the running std, and restart $G$ after an episode
# end. Compared with `course_lib.normalisation.RewardScaler` step by step on random rewards and episode ends.

# %%
def scale_rewards_small(rewards: np.ndarray, dones: np.ndarray, gamma: float, eps: float = 1e-8,
                        clip: float = 10.0) -> np.ndarray:
    """Rewards (T, N) divided by the running std of the discounted return G; dones (T, N) end episodes."""
    T, N = rewards.shape
    moments = RunningMoments(1)
    G = np.zeros(N)
    out = np.zeros((T, N))
    for t in range(T):
        # G_t = gamma * G_{t-1} + r_t   (G was reset to 0 after an episode end)
        G = gamma * G + rewards[t]
        moments.update(G[:, None])
        # r_scaled = clip(r / sqrt(Var[G] + eps), -clip, clip)
        out[t] = np.clip(rewards[t] / np.sqrt(moments.var[0] + eps), -clip, clip)
        G = np.where(dones[t], 0.0, G)
    return out


# %%
# NBVAL_CHECK_OUTPUT
rng = np.random.default_rng(SEED)
rewards_demo = rng.normal(-3.0, 2.0, size=(60, 3))
dones_demo = rng.random((60, 3)) < 0.05
mine = scale_rewards_small(rewards_demo, dones_demo, gamma=0.9)
scaler = RewardScaler(gamma=0.9, num_envs=3)
lib = np.stack([scaler(rewards_demo[t], dones_demo[t], np.zeros(3, dtype=bool)) for t in range(60)])
print("equal to course_lib's RewardScaler:", np.allclose(mine, lib))
print(f"divisor after 60 steps: {scaler.std:.4f}; first scaled rewards of env 0: {np.round(lib[:4, 0], 4)}")
# the same stream in other units: every reward x 100
scaler_100 = RewardScaler(gamma=0.9, num_envs=3)
lib_100 = np.stack([scaler_100(100 * rewards_demo[t], dones_demo[t], np.zeros(3, dtype=bool)) for t in range(60)])
print(f"rewards x 100: largest change of any scaled reward {np.abs(lib_100 - lib).max():.4f} "
      f"(the divisor grew by x {scaler_100.std / scaler.std:.1f})")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Compared with `course_lib.normalisation.RewardScaler` step by step: the same scaled rewards",
      bool(np.allclose(mine, lib)), f"largest difference {np.abs(mine - lib).max():.1e}")
claim("the learner sees **the same numbers** whether the environment pays in cents or in euros",
      bool(np.abs(lib_100 - lib).max() < 1e-6), f"largest change of a scaled reward {np.abs(lib_100 - lib).max():.1e}")

# %% [markdown]
# The last line is the point of dividing by the return's std: the learner sees **the same numbers** whether the
# environment pays in cents or in euros, so one set of hyper-parameters fits both. Up to $\epsilon$, the clip and
# floating-point rounding, PPO with reward scaling trains identically on the two, as the next cell checks on the
# first two updates of PPO on Pendulum, with its rewards as they are and multiplied by 100.

# %%
def make_scaled_pendulum(factor: float, **kwargs) -> gym.Env:
    """Pendulum-v1 whose every reward is multiplied by `factor` (dynamics and time limit unchanged)."""
    return gym.wrappers.TransformReward(gym.make("Pendulum-v1", **kwargs), lambda r: factor * r)


if "nb06/PendulumRewardX100-v0" not in gym.registry:
    gym.register(id="nb06/PendulumRewardX100-v0", entry_point=make_scaled_pendulum, kwargs={"factor": 100.0})

units_rows = {}
for env_id in ("Pendulum-v1", "nb06/PendulumRewardX100-v0"):
    cfg_units = ppo.pendulum_config(env_id=env_id)  # scale_reward=True
    _, hist_units = ppo.train(cfg_units, seed=SEED, total_steps=2 * cfg_units.batch_size, progress=False)
    units_rows[env_id] = np.array([[r.policy_loss, r.value_loss, r.approx_kl] for r in hist_units.rows])
    print(f"{env_id}: first episode's raw return {hist_units.episodes[0].ret:.1f}")
    for i, row in enumerate(units_rows[env_id].round(5).tolist(), start=1):
        print(f"  update {i}: policy loss, value loss, KL {row}")

# %% tags=["claim"] jupyter={"source_hidden": true}
units_diff = np.abs(units_rows["nb06/PendulumRewardX100-v0"] / units_rows["Pendulum-v1"] - 1).max()
claim("Up to $\\epsilon$, the clip and floating-point rounding, PPO with reward scaling trains identically on the two",
      bool(units_diff < 1e-3), f"largest relative difference of the update statistics {units_diff:.1e} (tolerance 1e-3)")

# %% [markdown]
# ### 3.4 Observation statistics that travel with the agent
#
# `ObsNormaliser` wraps a `RunningMeanStd`, standardises and clips. `freeze()` stops the updates,
# `state_dict()` holds only tensors, so `torch.load(..., weights_only=True)` can read it back. Everything is written
# to a temporary folder that disappears at the end of the cell.

# %%
# NBVAL_CHECK_OUTPUT
normaliser = ObsNormaliser(3)
for chunk in np.split(data, cuts):
    normaliser(chunk)  # training: every call adds the batch to the statistics, then normalises it
normaliser.freeze()
count_before = normaliser.state_dict()["count"].item()
probe = data[:5]
out_a = normaliser(probe)  # frozen: normalises with the stored statistics, does not learn from `probe`
print(f"statistics from {count_before:.0f} observations; still {normaliser.state_dict()['count'].item():.0f} "
      "after normalising 5 more while frozen")
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "obs_stats.pt"
    torch.save(normaliser.state_dict(), path)
    restored = ObsNormaliser(3)
    restored.load_state_dict(torch.load(path, weights_only=True))
    restored.freeze()
print("restored normaliser gives the same outputs:", np.allclose(restored(probe), out_a))
print("normalised probe (rows = observations):\n", np.round(out_a, 4))
print("the same probe through a fresh normaliser (mean 0, var 1: the raw observations):\n",
      np.round(ObsNormaliser(3)(probe, update=False), 4))

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("`freeze()` stops the updates", normaliser.state_dict()["count"].item() == count_before == len(data),
      f"count {normaliser.state_dict()['count'].item():.0f} after normalising 5 more while frozen")
claim("`torch.load(..., weights_only=True)` can read it back [and the restored normaliser gives the same outputs]",
      bool(np.allclose(restored(probe), out_a)), f"largest difference {np.abs(restored(probe) - out_a).max():.1e}")

# %% [markdown]
# ## 4. Experiments
#
# ### 4.1 Advantages of a real batch, at the start of training
#
# One rollout with PPO's Pendulum settings (`ppo.pendulum_config()`, the numbers that matter are printed below), a
# freshly initialised agent and **raw** rewards, then GAE. The critic knows nothing yet and predicts values near 0,
# while Pendulum's rewards lie between about $-16.3$ and $0$.

# %%
cfg = ppo.pendulum_config()
torch.manual_seed(SEED)
envs = make_vec_env("Pendulum-v1", cfg.num_envs, seed=SEED)
spec = AgentSpec.from_spaces(envs.single_observation_space, envs.single_action_space, hidden=cfg.hidden,
                             log_std_init=cfg.log_std_init)
agent0 = ActorCriticAgent(spec)
rollout0 = RolloutCollector(envs, agent0.policy_step, cfg.num_steps).collect()
envs.close()
est0 = advantages_and_returns(rollout0, cfg)
batch0 = rollout0.flat(est0.advantages, est0.returns)  # valid steps only
adv_raw = batch0.adv.double()
B = len(batch0)
adv_batch_norm = normalisation.normalise_advantages(adv_raw)
MB_SIZE = 64
perm = torch.randperm(B, generator=torch.Generator().manual_seed(SEED))
adv_mb_norm = torch.empty_like(adv_raw)
mb_means, mb_stds = [], []
for idx in perm.split(MB_SIZE):
    adv_mb_norm[idx] = normalisation.normalise_advantages(adv_raw[idx])
    mb_means.append(adv_raw[idx].mean().item())
    mb_stds.append(adv_raw[idx].std(correction=0).item())

fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
axes[0].hist(adv_raw.numpy(), bins=40, color=plots.PALETTE[3])
axes[0].axvline(0, color="black", lw=0.8)
axes[0].set_title("raw advantages", fontsize=10)
axes[1].hist(adv_batch_norm.numpy(), bins=40, color=plots.PALETTE[0], alpha=0.7, label="per batch")
axes[1].hist(adv_mb_norm.numpy(), bins=40, color=plots.PALETTE[1], alpha=0.5, label=f"per minibatch of {MB_SIZE}")
axes[1].axvline(0, color="black", lw=0.8)
axes[1].set_title("after normalisation", fontsize=10)
axes[1].legend(fontsize=8)
axes[2].scatter(adv_batch_norm.numpy(), adv_mb_norm.numpy(), s=4, alpha=0.5, color=plots.PALETTE[2])
axes[2].plot([-3, 3], [-3, 3], color="black", lw=0.8)
axes[2].set_xlabel("normalised per batch")
axes[2].set_ylabel(f"per minibatch of {MB_SIZE}")
axes[2].set_title("the same samples, two normalisations", fontsize=10)
plt.tight_layout()
plots.show(fig, alt="A histogram of raw advantages (left); histograms of the same advantages normalised per "
                    f"batch and per minibatch of {MB_SIZE} (middle); and a scatter of one normalisation "
                    "against the other around the diagonal (right).")
print(f"{cfg.num_envs} envs x {cfg.num_steps} steps, gamma {cfg.gamma}, lam {cfg.lam}: batch of B = {B} valid steps")
print(f"raw advantages: mean {adv_raw.mean():.2f}, std {adv_raw.std(correction=0):.2f}, "
      f"share negative {(adv_raw < 0).double().mean():.0%}")
print(f"normalised per batch: share negative {(adv_batch_norm < 0).double().mean():.0%}")
print(f"{len(mb_means)} minibatches of {MB_SIZE}: their means range over [{min(mb_means):.2f}, {max(mb_means):.2f}], "
      f"their stds over [{min(mb_stds):.2f}, {max(mb_stds):.2f}]")
print(f"mean |per-minibatch - per-batch| normalised value of a sample: "
      f"{(adv_mb_norm - adv_batch_norm).abs().mean():.3f} (in units of the batch's std)")
print(f"rank order kept by per-batch normalisation: {bool(torch.equal(adv_raw.argsort(), adv_batch_norm.argsort()))}")

# %% tags=["claim"] jupyter={"source_hidden": true}
share_negative_raw = (adv_raw < 0).double().mean().item()
share_negative_norm = (adv_batch_norm < 0).double().mean().item()
claim("at the start of training the raw advantages are essentially all **negative**", share_negative_raw >= 0.95,
      f"{share_negative_raw:.1%} negative (tolerance: at least 95 %)")
claim("After normalisation (middle) the samples above the batch average are pushed up and those below it down, "
      "ranked exactly as before",
      bool(torch.equal(adv_raw.argsort(), adv_batch_norm.argsort())) and 0.2 < share_negative_norm < 0.8,
      f"rank order kept; {share_negative_norm:.0%} negative after normalisation")
claim("the same sample gets a slightly different weight depending on which minibatch it lands in",
      0.0 < (adv_mb_norm - adv_batch_norm).abs().mean().item() < 0.5,
      f"mean |difference| {(adv_mb_norm - adv_batch_norm).abs().mean().item():.3f} batch stds (tolerance: 0 to 0.5)")

# %% [markdown]
# Read the left panel with 2.1 in mind: at the start of training the raw advantages are essentially all **negative**,
# because the untrained critic overestimates every state. A plain policy gradient would push the probability of
# *every* sampled action down. After normalisation (middle) the samples above the batch average are pushed up and
# those below it down (the printed share), ranked exactly as before. Per-minibatch statistics (orange, right) are
# estimates from fewer samples: the same sample gets a slightly different weight depending on which minibatch it
# lands in. The printed spread of the minibatch means and stds is that estimation noise; the explorer in section 5
# shows how it grows as minibatches shrink.
#
# ### 4.2 How much noise does centring remove from the gradient?
#
# The policy-gradient estimate of a minibatch is $\hat g = \frac1b\sum_i \ell_i\hat A_i$. To see its noise we need
# every sample's score $\ell_i = \nabla_\theta\log\pi_\theta(a_i|s_i)$ separately: `torch.func` computes all $B$ of
# them in one vectorised call (`vmap` over `grad`). Then we draw many random minibatches of size $b$ from this
# batch and compare three estimates: raw advantages, centred ($\hat A - \mu_{mb}$), and normalised (centred and
# divided by $\sigma_{mb}$). For raw and centred (same units) we report the total variance
# $\mathrm{tr}\,\mathrm{Cov}[\hat g]$ over draws; for all three, the average cosine between a minibatch's estimate and
# the full batch's normalised gradient (1 = the same direction).

# %%
actor0 = agent0.actor
actor_params = {name: p.detach() for name, p in actor0.named_parameters()}
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def logp_one_sample(params: dict[str, torch.Tensor], obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """log N(action; mu(obs), sigma^2) summed over action dims, for one (obs_dim,) observation -> scalar."""
    mean = functional_call(actor0, params, (obs[None],))[0]
    log_std = params["log_std"]
    # log N(a; mu, sigma^2) = -(a - mu)^2 / (2 sigma^2) - log sigma - log sqrt(2 pi)
    return (-0.5 * ((action - mean) / log_std.exp()) ** 2 - log_std - LOG_SQRT_2PI).sum()


per_sample = vmap(grad(logp_one_sample), in_dims=(None, 0, 0))(actor_params, batch0.obs, batch0.actions)
scores = torch.cat([per_sample[name].reshape(B, -1) for name in actor_params], dim=1).double()  # (B, P)
check = flat_grad(actor0.log_prob(actor0.distribution(batch0.obs), batch0.actions).sum(), actor0).double()
print(f"per-sample scores: shape {tuple(scores.shape)}; largest difference of their sum from autograd's")
print(f"gradient of the summed log-probabilities: {(scores.sum(0) - check).abs().max().item():.1e}")


def minibatch_gradients(adv: torch.Tensor, size: int, draws: int, seed: int) -> dict[str, torch.Tensor]:
    """Policy-gradient estimates of `draws` random minibatches of `size` samples: raw, centred, normalised.

    adv: (B,) raw advantages of batch0. Returns a dict of (draws, P) tensors. Each minibatch is a row of a
    (draws, B) averaging matrix S, so every estimate is one matrix product.
    """
    gen = torch.Generator().manual_seed(seed)
    idx = torch.rand(draws, B, generator=gen).argsort(dim=1)[:, :size]
    S = torch.zeros(draws, B, dtype=torch.float64).scatter_(1, idx, 1.0 / size)
    mean_adv = S @ adv
    std_adv = (S @ adv**2 - mean_adv**2).clamp(min=0).sqrt()
    mean_score = S @ scores
    # g_raw = mean(l_i A_i);  g_centred = mean(l_i (A_i - mu)) = g_raw - mu * l_bar;  g_norm = g_centred / sigma
    g_raw = S @ (scores * adv[:, None])
    g_centred = g_raw - mean_adv[:, None] * mean_score
    return {"raw": g_raw, "centred": g_centred, "normalised": g_centred / (std_adv[:, None] + 1e-8)}


g_reference = (scores * adv_batch_norm[:, None]).mean(0)  # the full batch, normalised advantages


def noise_summary(gs: dict[str, torch.Tensor]) -> dict[str, float]:
    """Total variance over draws (raw, centred) and mean cosine to the full-batch direction (all three)."""
    out = {f"var_{k}": float(((gs[k] - gs[k].mean(0)) ** 2).sum(1).mean()) for k in ("raw", "centred")}
    for k, gk in gs.items():
        out[f"cos_{k}"] = float(torch.nn.functional.cosine_similarity(gk, g_reference[None], dim=1).mean())
    return out


g_raw_full = (scores * adv_raw[:, None]).mean(0)
print(f"full batch: cosine(raw-advantage gradient, normalised-advantage gradient) = "
      f"{torch.nn.functional.cosine_similarity(g_raw_full, g_reference, dim=0).item():.3f}")
cos_full_raw = torch.nn.functional.cosine_similarity(g_raw_full, g_reference, dim=0).item()
noise_by_size = {}
print(" b    tr Cov raw   tr Cov centred   ratio  | cosine to full batch: raw  centred  normalised")
for size in (16, 64, 256):
    s = noise_by_size[size] = noise_summary(minibatch_gradients(adv_raw, size, draws=300, seed=size))
    print(f"{size:3d}  {s['var_raw']:11.1f}  {s['var_centred']:15.1f}  {s['var_raw'] / s['var_centred']:6.1f}  |"
          f"{s['cos_raw']:26.2f}  {s['cos_centred']:7.2f}  {s['cos_normalised']:10.2f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("per-sample scores computed by `vmap` over `grad` sum to autograd's gradient of the summed log-probabilities",
      torch.allclose(scores.sum(0), check, rtol=1e-4, atol=1e-4),
      f"largest difference {(scores.sum(0) - check).abs().max().item():.1e}")
variance_ratios = {b: s["var_raw"] / s["var_centred"] for b, s in noise_by_size.items()}
claim("Centring removes most of the variance here (the ratio column)", min(variance_ratios.values()) > 2.0,
      "raw / centred total variance " + ", ".join(f"b={b}: {r:.1f}" for b, r in variance_ratios.items())
      + " (tolerance: above 2 at every size)")
claim("Even the *full-batch* raw gradient points almost at right angles to the normalised one: with $B \\approx 1000$ "
      "samples the noise term still dominates", abs(cos_full_raw) < 0.2 and abs(B - 1000) < 50,
      f"cosine {cos_full_raw:.3f} (tolerance: |cos| < 0.2), B = {B}")
claim("Normalised and centred estimates point the same way",
      all(abs(s["cos_normalised"] - s["cos_centred"]) < 0.05 for s in noise_by_size.values()),
      "mean cosines centred / normalised " + ", ".join(f"b={b}: {s['cos_centred']:.3f} / {s['cos_normalised']:.3f}"
                                                        for b, s in noise_by_size.items()))

# %% [markdown]
# Centring removes most of the variance here (the ratio column), because the removed term $\mu\,\bar\ell$ is large
# when every advantage has the same sign. Even the *full-batch* raw gradient points almost at right angles to the
# normalised one: with $B \approx 1000$ samples the noise term still dominates. Normalised and centred estimates
# point the same way (dividing by $\sigma_{mb}$ only changes their length, by a slightly different factor in each
# minibatch). This is the batch at initialisation; once the critic has learned, $\mu$ is closer to 0 and centring
# matters less, while the scaling keeps doing its job across batches.
#
# ### 4.3 The size of rewards and returns on Pendulum, and the $\gamma$ of the scaler
#
# Random actions in 8 Pendulum environments for 600 steps (3 episodes each). Two reward scalers watch the same
# stream: one with the algorithm's $\gamma = 0.9$, one with $\gamma = 0.99$. The check is what they are for: the
# spread of the discounted return, with the agent's $\gamma$, of the scaled rewards.

# %%
N_RANDOM, T_RANDOM = 8, 600
envs = make_vec_env("Pendulum-v1", N_RANDOM, seed=SEED)
obs, _ = envs.reset()
scalers = {0.9: RewardScaler(0.9, N_RANDOM), 0.99: RewardScaler(0.99, N_RANDOM)}
raw_r, term_l, trunc_l, valid_l, obs_l = [], [], [], [], []
prev_done = np.zeros(N_RANDOM, dtype=bool)
for t in range(T_RANDOM):
    next_obs, r, terminated, truncated, _ = envs.step(envs.action_space.sample())
    valid = ~prev_done  # the step after an episode end is the autoreset step: no transition
    for s in scalers.values():
        s(r, terminated, truncated, valid=valid)
    raw_r.append(r)
    term_l.append(terminated)
    trunc_l.append(truncated)
    valid_l.append(valid)
    obs_l.append(obs[valid])
    prev_done = terminated | truncated
    obs = next_obs
envs.close()
raw_r, valid_np = np.array(raw_r), np.array(valid_l)
obs_random = np.concatenate(obs_l)  # (valid steps, 3), used in 4.5
# returns-to-go with the agent's gamma, cut at episode ends
ret_raw = discounted_returns(torch.tensor(raw_r), torch.tensor(np.array(term_l), dtype=torch.float64),
                             torch.tensor(np.array(trunc_l), dtype=torch.float64), gamma=0.9).numpy()[valid_np]
print(f"raw rewards: mean {raw_r[valid_np].mean():.2f}, std {raw_r[valid_np].std():.2f}, "
      f"min {raw_r[valid_np].min():.2f}")
print(f"discounted returns (gamma 0.9): mean {ret_raw.mean():.1f}, std {ret_raw.std():.1f}  <- the critic's targets")
for gamma_s, s in scalers.items():
    print(f"scaler with gamma {gamma_s}: divides by {s.std:6.2f}; scaled returns (gamma 0.9): "
          f"std {(ret_raw / s.std).std():.2f}, mean {(ret_raw / s.std).mean():.2f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
spread_matching, spread_099 = (ret_raw / scalers[0.9].std).std(), (ret_raw / scalers[0.99].std).std()
claim("With the matching $\\gamma$ the value targets end up with a spread of about 1", 0.8 < spread_matching < 1.2,
      f"std of the scaled returns {spread_matching:.2f} (tolerance 0.8 to 1.2)")
claim("With $\\gamma = 0.99$ the divisor is several times larger and the targets are squeezed well below 1",
      scalers[0.99].std / scalers[0.9].std > 3 and spread_099 < 0.5,
      f"divisor x {scalers[0.99].std / scalers[0.9].std:.1f}, std of the scaled returns {spread_099:.2f}")

# %% [markdown]
# With the matching $\gamma$ the value targets end up with a spread of about 1, as intended (not exactly 1: the
# scaler tracks the return accumulated since the episode start rather than the return still to come, and its
# variance includes the early steps of each episode). With $\gamma = 0.99$ the divisor is several times larger and
# the targets are squeezed well below 1: not a wrong task, but not the scale the rest of the settings were tuned
# for. Without any scaling, a freshly initialised critic (outputs near 0) must learn targets of the size printed in
# the second line, with an Adam step size of about $10^{-3}$ per parameter per step.
#
# ### 4.4 Rewards are scaled, not centred
#
# > **Common misconception.** "Reward normalisation" treats rewards like advantages: subtract their mean, then
# > divide by their standard deviation.
# >
# > What is true: rewards are only *divided*, by a running std of the discounted return computed with the
# > algorithm's own $\gamma$, and never shifted. In an episodic task a constant added to every reward changes what
# > the agent is paid for (section 2.2): whether it wants its episodes long or short. The evidence follows in this
# > section: the table of episode values just below, and the 5-seed CartPole runs in which a shift of $-2$ teaches
# > PPO to let the pole fall as fast as it can.
#
# CartPole pays $+1$ for every step the pole stays up, and an episode **terminates** when it falls. First the
# closed form $G(k)$ for a constant reward $c$ per step and PPO's CartPole discount $\gamma = 0.98$:

# %%
# NBVAL_CHECK_OUTPUT
gamma_cp = ppo.PPOConfig().gamma
lengths = (10, 50, 200, 500)
print(f"value of an episode of length k, gamma = {gamma_cp}")
print("reward per step c | " + " | ".join(f"k = {k:3d}" for k in lengths) + " | best length")
for c in (1.0, 0.0, -1.0):
    values = [c * (1 - gamma_cp**k) / (1 - gamma_cp) for k in lengths]
    best = "longest" if c > 0 else ("any: all equal" if c == 0 else "shortest")
    print(f"{c:+17.1f} | " + " | ".join(f"{v:7.2f}" for v in values) + f" | {best}")

# %% [markdown]
# Subtracting a running mean of CartPole's rewards gives the middle row: the reward is always $1$, its mean is $1$
# after the first step, and every reward becomes $0$. The task no longer says anything about balancing. Shift a
# little further (subtract 2, the bottom row) and the agent is paid to make the episode short.
#
# The live check: PPO with `course_lib`'s CartPole settings and reward scaling on, once on CartPole as it is and
# once on a copy whose rewards are shifted by $-2$ (a `TransformReward` wrapper, registered in memory under a new
# id). 5 seeds each; the plot shows the length of the training episodes (a running mean over 20 episodes), and the
# table the mean over seeds with its 95 % bootstrap confidence interval (in brackets).

# %%
def make_shifted_cartpole(shift: float, **kwargs) -> gym.Env:
    """CartPole-v1 whose every reward is r + shift (the dynamics and the termination rule are unchanged)."""
    return gym.wrappers.TransformReward(gym.make("CartPole-v1", **kwargs), lambda r: r + shift)


if "nb06/CartPoleShiftedMinus2-v0" not in gym.registry:
    gym.register(id="nb06/CartPoleShiftedMinus2-v0", entry_point=make_shifted_cartpole, kwargs={"shift": -2.0})

SHIFT_STEPS = 4_096
SHIFT_RUNS = {"reward +1 per step (scaled, not shifted)": "CartPole-v1",
              "reward shifted by -2 (scaled)": "nb06/CartPoleShiftedMinus2-v0"}
shift_histories = {label: [] for label in SHIFT_RUNS}
with tqdm(total=len(SHIFT_RUNS) * len(SEEDS), desc="CartPole, shifted vs not") as bar:
    for label, env_id in SHIFT_RUNS.items():
        for seed in SEEDS:
            _, hist = ppo.train(ppo.PPOConfig(env_id=env_id, scale_reward=True), seed=seed,
                                total_steps=SHIFT_STEPS, progress=False)
            shift_histories[label].append(hist)
            bar.update()


def length_curve(hist, window: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(env steps, running mean of the last `window` training episode lengths) at every finished episode."""
    lengths_h = np.array([e.length for e in hist.episodes], dtype=float)
    steps = np.array([e.env_steps for e in hist.episodes], dtype=float)
    csum = np.concatenate([[0.0], np.cumsum(lengths_h)])
    counts = np.minimum(np.arange(1, len(lengths_h) + 1), window)
    return steps, (csum[1:] - csum[np.arange(1, len(lengths_h) + 1) - counts]) / counts


fig, ax = plt.subplots(figsize=(7, 3.4))
for (label, hists), colour in zip(shift_histories.items(), (plots.PALETTE[0], plots.PALETTE[3])):
    plots.plot_seeds(ax, [length_curve(h) for h in hists], label, color=colour)
ax.set_xlabel("env steps")
ax.set_ylabel("episode length (mean of last 20)")
ax.set_title(f"CartPole, rewards shifted by -2 or not (line: mean; band: 95 % bootstrap CI over {len(SEEDS)} seeds)",
             fontsize=10)
ax.legend(fontsize=8)
plt.tight_layout()
plots.show(fig, alt="Learning curves of CartPole's episode length with rewards as they are and with rewards "
                    "shifted by -2 per step, mean and 95% bootstrap band over seeds.")

# the shortest episodes a policy can produce: always push the cart the same way
env = gym.make("CartPole-v1")
push_one_way = []
for k in range(20):
    env.reset(seed=SEED + k)
    length, done = 0, False
    while not done:
        _, _, terminated, truncated, _ = env.step(0)
        length, done = length + 1, terminated or truncated
    push_one_way.append(length)
env.close()

shift_lengths = {}  # label -> (first 20, last 20) mean episode length per seed, shape (seeds,)
print(f"mean episode length, mean over {len(SEEDS)} seeds [95 % bootstrap CI]")
for label, hists in shift_histories.items():
    first = np.array([np.mean([e.length for e in h.episodes[:20]]) for h in hists])
    last = np.array([np.mean([e.length for e in h.episodes[-20:]]) for h in hists])
    shift_lengths[label] = (first, last)
    print(f"  {label}:")
    print(f"    first 20 episodes {fmt_ci(first)}  ->  last 20 {fmt_ci(last)};  change {fmt_ci(last - first)}")
print(f"  always pushing left: {np.mean(push_one_way):.1f} steps per episode (20 episodes)")

# %% tags=["claim"] jupyter={"source_hidden": true}
(first_plain, last_plain), (first_shifted, last_shifted) = shift_lengths.values()
change_plain, change_shifted = bootstrap_ci(last_plain - first_plain), bootstrap_ci(last_shifted - first_shifted)
claim("5 seeds each [...] the printed episode lengths move in opposite directions",
      len(SEEDS) == 5 and change_plain.low > 0 and change_shifted.high < 0,
      f"change over training: +1 per step {fmt_ci(last_plain - first_plain)}, "
      f"shifted {fmt_ci(last_shifted - first_shifted)} (95 % CIs exclude 0 on opposite sides)")
claim("with the shifted rewards PPO learns [...] letting the pole fall as fast as possible",
      bootstrap_ci(last_shifted).high < np.mean(push_one_way) + 2,
      f"last 20 episodes {fmt_ci(last_shifted)} steps; always pushing one way {np.mean(push_one_way):.1f} "
      "(tolerance: CI below that + 2)")

# %% [markdown]
# The two runs differ only by the constant added to the rewards, and the printed episode lengths move in opposite
# directions: with the shifted rewards PPO learns, correctly, what it is now paid for, which is letting the pole
# fall as fast as possible (about as fast as a policy that always pushes the cart the same way). Scaling was on in both runs and cannot undo a shift: dividing by a positive number
# keeps the sign of every reward.
#
# **The right version.** Advantages are centred and scaled per (mini)batch: that happens after GAE, inside the
# update, and only weights the policy loss. Rewards are only **scaled**, by a running std of the discounted return
# computed with the algorithm's own $\gamma$ (Engstrom et al. 2020; Huang et al. 2022; Gymnasium's `NormalizeReward`
# and SB3's `VecNormalize` do the same). A shift is harmless only when the episode length does not depend on the
# policy, as in Pendulum, whose episodes always end at the 200-step time limit (bootstrapped, not terminated).
#
# ### 4.5 Observation normalisation on Pendulum
#
# Pendulum observes $(\cos\theta, \sin\theta, \dot\theta)$: two features bounded by 1 and an angular velocity up to 8.
# The random-policy observations of 4.3, before and after standardising with their own statistics:

# %%
obs_norm_demo = ObsNormaliser(3)
normalised_random = obs_norm_demo(obs_random)
feature_names = ("cos θ", "sin θ", "θ dot")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.0), sharey=True)
for j, name in enumerate(feature_names):
    axes[0].hist(obs_random[:, j], bins=50, alpha=0.5, label=name)
    axes[1].hist(normalised_random[:, j], bins=50, alpha=0.5, label=name)
axes[0].set_title("raw observations (random policy)", fontsize=10)
axes[1].set_title("standardised with running statistics", fontsize=10)
axes[0].legend(fontsize=8)
plt.tight_layout()
plots.show(fig, alt="Histograms of Pendulum observations (cos theta, sin theta, angular velocity) under a "
                    "random policy: raw (left), with different ranges, and standardised with running "
                    "statistics (right).")
print("raw std per feature:       ", obs_random.std(axis=0))
print("normalised std per feature:", normalised_random.std(axis=0))

# %% tags=["claim"] jupyter={"source_hidden": true}
raw_std = obs_random.std(axis=0)
claim("On Pendulum the scales differ by a factor of a few", 2 < raw_std.max() / raw_std.min() < 10,
      f"largest / smallest raw std {raw_std.max() / raw_std.min():.1f} (tolerance 2 to 10)")

# %% [markdown]
# On Pendulum the scales differ by a factor of a few, which a network can partly absorb in its first layer. On tasks
# with positions in metres and velocities in hundreds, or with features that sit far from 0, the difference is larger,
# which is why large studies (Andrychowicz et al. 2021) recommend observation normalisation by default.
#
# **The statistics are part of the trained agent.** The script of section 4.6 saved one trained agent (variant
# "all", seed 0) with `ActorCriticAgent.save`: spec, weights and the frozen observation statistics in one file.
# We load it, evaluate it as saved, after a save/load round trip through a temporary folder, and with its statistics
# replaced by fresh ones (mean 0, variance 1, i.e. raw observations), on the same 10 evaluation episodes the
# script used. `stored_results.load` refuses the stored file if the script's settings or the code it ran
# (`course_lib` included) have changed since it was made, or if the saved agent is not the file the script wrote.

# %%
stored = stored_results.load("nb06_pendulum_ablation")
ablation, ablation_config = stored.data, stored.config
trained = ActorCriticAgent.load(stored_results.data_path("nb06_pendulum_agent.pt"))
EVAL_KW = dict(n_episodes=ablation_config["eval"]["episodes"], deterministic=ablation_config["eval"]["deterministic"],
               seed=ablation_config["eval"]["seed"])
stats = trained.obs_normaliser.state_dict()
print(f"saved statistics: mean {stats['mean'].numpy().round(3)}, std {stats['var'].sqrt().numpy().round(3)},")
print(f"  from {stats['count'].item():.0f} observations; frozen: {trained.obs_normaliser.frozen}")

as_saved = evaluate(trained, "Pendulum-v1", **EVAL_KW)
script_record = next(r for r in ablation["runs"] if [r["variant"], r["seed"]] == ablation_config["saved_agent"])
print(f"evaluation as saved: {as_saved.mean:.1f}  (the script measured {np.mean(script_record['eval_returns']):.1f})")

with tempfile.TemporaryDirectory() as tmp:
    trained.save(Path(tmp) / "agent.pt")
    round_trip = ActorCriticAgent.load(Path(tmp) / "agent.pt")
after_round_trip = evaluate(round_trip, "Pendulum-v1", **EVAL_KW)
print(f"after save and load: {after_round_trip.mean:.1f}")

reset_stats = copy.deepcopy(trained)
reset_stats.obs_normaliser.load_state_dict(ObsNormaliser(3).state_dict())  # mean 0, var 1, count 0
without = evaluate(reset_stats, "Pendulum-v1", **EVAL_KW)
print(f"same weights, statistics reset: {without.mean:.1f}")
print(f"  per episode: {np.round(without.returns).astype(int)}")

# how far would 10 more episodes move the statistics if evaluation kept updating them?
keeps_learning = copy.deepcopy(trained.obs_normaliser)
keeps_learning.unfreeze()
keeps_learning(obs_random[: 10 * 200])
shift_mean = np.abs(keeps_learning.rms.mean - trained.obs_normaliser.rms.mean) / trained.obs_normaliser.rms.std
print("if evaluation kept updating them, 2000 random-policy observations would move the means by")
print(f"  {np.round(shift_mean, 4)} training stds")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("The script of section 4.6 saved one trained agent (variant \"all\", seed 0) [...] on the same 10 evaluation "
      "episodes the script used",
      ablation_config["saved_agent"] == ["all", 0] and EVAL_KW["n_episodes"] == 10
      and abs(as_saved.mean - np.mean(script_record["eval_returns"])) < 0.01,
      f"agent {ablation_config['saved_agent']}, {EVAL_KW['n_episodes']} episodes; here {as_saved.mean:.2f}, "
      f"stored {np.mean(script_record['eval_returns']):.2f}")
claim("[the agent evaluates the same] after a save/load round trip", bool(np.allclose(after_round_trip.returns,
                                                                                     as_saved.returns)),
      f"{after_round_trip.mean:.2f} vs {as_saved.mean:.2f}")
claim("without its statistics [...] the evaluation above collapses", without.mean < as_saved.mean - 300,
      f"{without.mean:.1f} with reset statistics vs {as_saved.mean:.1f} as saved (tolerance: at least 300 worse)")
claim("A normaliser that keeps updating during evaluation does less damage after 100k training observations "
      "(last line: the statistics barely move)",
      stats["count"].item() >= 100_000 and float(shift_mean.max()) < 0.05,
      f"{stats['count'].item():.0f} observations; largest move {shift_mean.max():.4f} training stds (tolerance 0.05)")

# %% [markdown]
# The weights alone are not the agent: without its statistics the same network sees inputs on a scale it never
# trained on, and the evaluation above collapses. A normaliser that keeps updating during evaluation does less
# damage after 100k training observations (last line: the statistics barely move), but the evaluation then depends
# on what was evaluated and in which order, and evaluation data leaks into the agent. Early in training the counts
# are small, and since a new batch enters the merge with weight $n_b/n$, the same data would move the statistics
# much further. Exercise 06.frozen_obs_norm in section 7 is that bug.
#
# ### 4.6 The central experiment: PPO on Pendulum with and without each normalisation
#
# **Set-up.** `course_lib.algos.ppo` with `ppo.pendulum_config()` (its settings, as stored with the results, are
# printed under the plot), 100,000 steps per run, 5 seeds per variant. Only the three switches change:
#
# | variant | advantage normalisation (per minibatch) | reward scaling | observation normalisation |
# |---|---|---|---|
# | all | on | on | on |
# | no_adv | **off** | on | on |
# | no_reward | on | **off** | on |
# | no_obs | on | on | **off** (the library's default for Pendulum) |
# | none | off | off | off |
#
# Twenty-five training runs do not fit into this notebook's time budget, so
# `notebooks/scripts/nb06_pendulum_ablation.py` ran them once and stored the learning curves and evaluations in
# `notebooks/data/nb06_pendulum_ablation.json`, with the settings and the code they came from (regenerate with
# `make data nb06_pendulum_ablation` from the repository root). Each final policy was evaluated deterministically
# on 10 episodes that start from seeds no training run used. The first cell re-runs the first update of every
# variant live and checks that it reproduces the stored one.

# %%
# update 1 of every variant with the first seed, live (one rollout and one update each, a few seconds); the first
# update uses the full learning rate whatever the budget, so it must equal update 1 of the stored 100k-step runs
live_prefix = {}
for variant, switches in ablation_config["variants"].items():
    cfg_variant = ppo.pendulum_config(**switches)
    _, hist_variant = ppo.train(cfg_variant, seed=ablation_config["prefix"]["seed"],
                                total_steps=cfg_variant.batch_size, progress=False)
    live_prefix[variant] = [float(getattr(hist_variant.rows[0], f)) for f in ablation_config["prefix"]["fields"]]
stored_results.assert_same_prefix(stored, live_prefix)  # raises StaleResult if today's code gives other numbers
print("update 1 of every variant, re-run live:")
print(f"  {'':9s} {', '.join(ablation_config['prefix']['fields'])}")
for variant, values in live_prefix.items():
    print(f"  {variant:9s} " + "  ".join(f"{v:10.4f}" for v in values))

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("100,000 steps per run, 5 seeds per variant [...] evaluated deterministically on 10 episodes",
      ablation_config["total_steps"] == 100_000 and len(ablation_config["seeds"]) == 5
      and all(len(r["eval_returns"]) == 10 for r in ablation["runs"]) and ablation_config["eval"]["deterministic"]
      and len(ablation["runs"]) == 25,
      f"{ablation_config['total_steps']:,} steps, seeds {ablation_config['seeds']}, {len(ablation['runs'])} runs")
claim("The first cell re-runs the first update of every variant live and checks that it reproduces the stored one",
      all(stored_results.close(stored.prefix[v], r["first_update"]) for r in ablation["runs"]
          if r["seed"] == ablation_config["prefix"]["seed"] for v in [r["variant"]]),
      "the stored prefix equals update 1 of every stored seed-0 run, and the live re-run equals the stored prefix")

# %%
VARIANT_ORDER = list(ablation_config["variants"])
VARIANT_COLOURS = dict(zip(VARIANT_ORDER, plots.PALETTE))
runs_by_variant = {v: [r for r in ablation["runs"] if r["variant"] == v] for v in VARIANT_ORDER}
N_SEEDS = len(ablation_config["seeds"])


def as_array(values: list) -> np.ndarray:
    """JSON list with nulls -> float array with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for variant, runs in runs_by_variant.items():
    plots.plot_seeds(axes[0], [(np.array(r["curve_steps"]), as_array(r["curve_return"])) for r in runs], variant,
                     color=VARIANT_COLOURS[variant])
    plots.plot_seeds(axes[1], [(np.array(r["curve_steps"]), as_array(r["explained_variance"])) for r in runs],
                     variant, color=VARIANT_COLOURS[variant])
axes[0].set_title("training return (mean of last 20 episodes)", fontsize=10)
axes[0].set_ylabel("return")
axes[1].set_title("critic's explained variance per update", fontsize=10)
axes[1].set_ylim(-0.2, 1.05)
for ax in axes:
    ax.set_xlabel("env steps")
axes[0].legend(fontsize=8)
axes[1].legend(fontsize=8)
fig.suptitle(f"PPO on Pendulum-v1, {ablation_config['total_steps']:,} steps "
             f"(line: mean; band: 95 % bootstrap CI over {N_SEEDS} seeds)")
plt.tight_layout()
plots.show(fig, alt="PPO on Pendulum-v1 for each normalisation variant: training return (left) and the "
                    "critic's explained variance per update (right), against env steps.")

base = ablation_config["base_config"]
print(f"settings: {base['num_envs']} envs x {base['num_steps']} steps, {base['update_epochs']} epochs of "
      f"{base['num_minibatches']} minibatches, gamma {base['gamma']}, lam {base['lam']},")
print(f"  learning rate {base['learning_rate']} (annealed: {base['anneal_lr']}), clip eps {base['clip_eps']}, "
      f"global gradient-norm clip {base['max_grad_norm']}, Adam eps {base['adam_eps']}")
print(f"mean over {N_SEEDS} seeds [95 % bootstrap CI]; final evaluation: {EVAL_KW['n_episodes']} deterministic "
      "episodes per run")
print(f"  {'variant':9s}  {'final return':26s}  value loss, first 5 updates")
final_eval, first_ev, last_ev, first_vl = {}, {}, {}, {}
for variant, runs in runs_by_variant.items():
    final_eval[variant] = np.array([np.mean(r["eval_returns"]) for r in runs])
    first_ev[variant] = np.array([np.nanmean(as_array(r["explained_variance"])[:10]) for r in runs])
    last_ev[variant] = np.array([np.nanmean(as_array(r["explained_variance"])[-10:]) for r in runs])
    first_vl[variant] = np.array([np.nanmean(as_array(r["value_loss"])[:5]) for r in runs])
    print(f"  {variant:9s}  {fmt_ci(final_eval[variant]):26s}  {fmt_ci(first_vl[variant], 2)}")
print(f"  {'variant':9s}  {'explained variance, first 10 updates':38s}  last 10 updates")
for variant in runs_by_variant:
    print(f"  {variant:9s}  {fmt_ci(first_ev[variant], 2):38s}  {fmt_ci(last_ev[variant], 2)}")
ranked = sorted(final_eval, key=lambda v: -np.mean(final_eval[v]))
print("ranked by mean final return:", " > ".join(ranked))
seconds = [r["seconds"] for r in ablation["runs"]]
print(f"seconds per run where the script ran: median {np.median(seconds):.0f} "
      f"(from {min(seconds):.0f} to {max(seconds):.0f}; the machine was shared)")

# %% [markdown]
# **How fast, and how far apart?** The final evaluation says where each variant ended; the learning curves say how
# quickly it got there. The next cell counts, per run, the env steps until the training return (mean of the last
# 20 episodes) first reached $-400$. A run that never reached it counts as the whole budget, which flatters it. Each
# variant is compared with "all" through the 95 % bootstrap confidence intervals of the two means: intervals that
# do not overlap are a clear difference; overlapping ones are not evidence either way.

# %%
THRESHOLD = -400.0


def steps_to(run: dict, threshold: float = THRESHOLD) -> float:
    """Env steps at which the run's training-return curve first reaches `threshold` (the budget if never)."""
    curve, steps = as_array(run["curve_return"]), np.array(run["curve_steps"])
    hit = np.flatnonzero(curve >= threshold)
    return float(steps[hit[0]]) if len(hit) else float(ablation_config["total_steps"])


def compare(a: np.ndarray, b: np.ndarray) -> str:
    """'higher' / 'lower' if the 95 % bootstrap CIs of the means of a and b do not overlap, else 'CIs overlap'."""
    ci_a, ci_b = bootstrap_ci(a), bootstrap_ci(b)
    if ci_a.low > ci_b.high:
        return "higher"
    if ci_a.high < ci_b.low:
        return "lower"
    return "CIs overlap"


speed = {v: np.array([steps_to(r) for r in runs]) for v, runs in runs_by_variant.items()}
reached = {v: sum(steps_to(r) < ablation_config["total_steps"] for r in runs) for v, runs in runs_by_variant.items()}
print(f"env steps (thousands) until the training return first reached {THRESHOLD:.0f}; mean [95 % bootstrap CI]")
for variant in VARIANT_ORDER:
    shown = ", ".join("never" if s >= ablation_config["total_steps"] else f"{s / 1000:.0f}" for s in speed[variant])
    print(f"  {variant:9s} {fmt_ci(speed[variant] / 1000, 0):14s} ({shown})")
    if variant != "all":
        print(f"  {'':9s} vs all: steps {compare(speed[variant], speed['all'])}, "
              f"final return {compare(final_eval[variant], final_eval['all'])}")

# %% [markdown]
# **What the curves and the tables show** (5 seeds per variant; a difference counts only where the 95 % confidence
# intervals are apart).
#
# - **Reward scaling matters most here.** Without it (`no_reward`) no seed reached the threshold and the final
#   returns are far below every variant that scales rewards; removing it costs more than removing either of the
#   other two. The critic's side of the story is in the right panel and the table: in the first updates the value
#   loss is in the hundreds and the critic explains little of the returns' variance, because its targets are
#   returns of the size measured in 4.3, which a freshly initialised network has to grow into.
# - **Advantage normalisation bought speed.** With reward scaling on, every `no_adv` seed reached the threshold
#   later than every `all` seed. Its final returns are lower on average, but their interval overlaps that of
#   `all`, so 100k steps are not enough to say it ends worse.
# - **Observation normalisation did not help on Pendulum.** `no_obs` (the library's default for this task) learned
#   faster than `all` and ended better, with both intervals apart. Pendulum's three inputs are close to centred and
#   their spreads are within one order of magnitude (the saved statistics printed in 4.5), so there is little to
#   fix, while running statistics that shift during early training give the networks a moving input. On tasks with
#   badly scaled inputs the balance is different, which is why large studies recommend it as a default; measure it
#   on your task.
# - **`none` ended ahead of `no_reward` on average, but not clearly.** Turning advantage normalisation *off* seems
#   to make unscaled rewards less harmful, yet the two intervals overlap: with 5 seeds this is a hint, not a
#   result. The next cell looks for a mechanism that would produce it.

# %% tags=["claim"] jupyter={"source_hidden": true}
ci = {v: bootstrap_ci(x) for v, x in final_eval.items()}
ci_speed = {v: bootstrap_ci(x) for v, x in speed.items()}
scaling_variants = ("all", "no_adv", "no_obs")
claim("Without it (`no_reward`) no seed reached the threshold and the final returns are far below every variant "
      "that scales rewards",
      reached["no_reward"] == 0 and all(ci["no_reward"].high < ci[v].low for v in scaling_variants),
      f"no_reward {fmt_ci(final_eval['no_reward'])}, reached {reached['no_reward']} of {N_SEEDS}; "
      + ", ".join(f"{v} {fmt_ci(final_eval[v])}" for v in scaling_variants))
cost = {v: ci["all"].estimate - ci[v].estimate for v in ("no_adv", "no_reward", "no_obs")}
obs_mean, obs_std = stats["mean"].numpy(), stats["var"].sqrt().numpy()
claim("Pendulum's three inputs are close to centred and their spreads are within one order of magnitude (the saved "
      "statistics printed in 4.5)", bool(np.all(np.abs(obs_mean) < 0.5 * obs_std)) and obs_std.max() / obs_std.min() < 10,
      f"means {obs_mean.round(3)}, stds {obs_std.round(3)}")
claim("removing it costs more than removing either of the other two",
      cost["no_reward"] > max(cost["no_adv"], cost["no_obs"]),
      "mean final return of all minus variant: " + ", ".join(f"{v} {c:.0f}" for v, c in cost.items()))
claim("in the first updates the value loss is in the hundreds and the critic explains little of the returns' variance",
      bool(np.all((first_vl["no_reward"] > 100) & (first_vl["no_reward"] < 1000)))
      and bootstrap_ci(first_ev["no_reward"]).high < bootstrap_ci(first_ev["all"]).low
      and first_ev["no_reward"].mean() < 0.3,
      f"no_reward: value loss {fmt_ci(first_vl['no_reward'])}, explained variance {fmt_ci(first_ev['no_reward'], 2)} "
      f"(all: {fmt_ci(first_ev['all'], 2)})")
claim("every `no_adv` seed reached the threshold later than every `all` seed", speed["no_adv"].min() > speed["all"].max(),
      f"no_adv {(speed['no_adv'] / 1000).round()}k, all {(speed['all'] / 1000).round()}k")
claim("Its final returns are lower on average, but their interval overlaps that of `all`",
      ci["no_adv"].estimate < ci["all"].estimate and ci["no_adv"].high >= ci["all"].low,
      f"no_adv {fmt_ci(final_eval['no_adv'])}, all {fmt_ci(final_eval['all'])}")
claim("`no_obs` [...] learned faster than `all` and ended better, with both intervals apart",
      ci_speed["no_obs"].high < ci_speed["all"].low and ci["no_obs"].low > ci["all"].high,
      f"steps to {THRESHOLD:.0f}: no_obs {fmt_ci(speed['no_obs'] / 1000, 0)}k, all {fmt_ci(speed['all'] / 1000, 0)}k; "
      f"final no_obs {fmt_ci(final_eval['no_obs'])}, all {fmt_ci(final_eval['all'])}")
claim("`none` ended ahead of `no_reward` on average, but [...] the two intervals overlap",
      ci["none"].estimate > ci["no_reward"].estimate and ci["none"].low <= ci["no_reward"].high,
      f"none {fmt_ci(final_eval['none'])}, no_reward {fmt_ci(final_eval['no_reward'])}")

# %% [markdown]
# **How advantage normalisation can hurt when rewards are not scaled.** One minibatch of 256 samples from the batch of
# 4.1 (fresh agent), the loss PPO minimises (clipped policy loss $+\,c_1\,\times$ value loss), with raw rewards and
# with the rewards divided by the divisor the $\gamma = 0.9$ scaler settled on in 4.3. `pendulum_config` clips the
# global gradient norm, actor and critic together (the limit is printed with the table). The last two columns are
# the size of Adam's *first* step for each actor parameter, as a fraction of the learning rate,
# $|g|/(|g| + \epsilon_{Adam})$ (Adam's first step is exactly that, since its moment estimates start from the first
# gradient), averaged over the actor's parameters: with the gradient clip, and as it would be without it.

# %%
class GradientProbe(NamedTuple):
    """Gradient sizes on one minibatch and what the global clip and Adam's eps make of them."""

    g_actor: float          # ||gradient of the loss w.r.t. the actor's parameters||
    g_critic: float         # ||... w.r.t. the critic's parameters||
    clip_coef: float        # min(1, max_grad_norm / ||both||): the factor the global clip multiplies them by
    adam_step: float        # mean over actor parameters of |g| / (|g| + eps_Adam), after the clip
    adam_step_noclip: float  # the same without the clip
    below_eps: float        # share of actor parameters whose clipped |g| is below eps_Adam
    median_noclip: float    # median |g| of the actor's parameters without the clip, in units of eps_Adam


def loss_gradients(rewards_divisor: float, norm_adv: bool) -> GradientProbe:
    """Gradient sizes of PPO's loss on one minibatch of batch0 (fresh agent), rewards divided by `rewards_divisor`."""
    est = gae(rollout0.rewards / rewards_divisor, rollout0.values, rollout0.next_values(), rollout0.terminated,
              rollout0.truncated, cfg.gamma, cfg.lam)
    mb = rollout0.flat(est.advantages, est.returns).select(torch.arange(256))
    probe_agent = copy.deepcopy(agent0)
    dist, values = probe_agent.distribution_and_value(mb.obs)
    logp = probe_agent.actor.log_prob(dist, mb.actions)
    adv = normalisation.normalise_advantages(mb.adv) if norm_adv else mb.adv
    # loss = -L_clip + c1 * L_VF   (no entropy bonus in pendulum_config)
    loss = ppo_clip_loss(logp, mb.logp_old, adv, cfg.clip_eps)[0] + cfg.vf_coef * value_loss(values, mb.ret)
    loss.backward()
    g_actor = torch.cat([p.grad.flatten() for p in probe_agent.actor.parameters()])
    g_critic = torch.cat([p.grad.flatten() for p in probe_agent.critic.parameters()])
    total = torch.sqrt(g_actor.norm() ** 2 + g_critic.norm() ** 2).item()
    # global norm clipping: every gradient times min(1, c / ||g||)
    coef = min(1.0, cfg.max_grad_norm / total)
    clipped = (g_actor * coef).abs()
    # Adam's first step per parameter: lr * |g| / (|g| + eps)
    first_step = (clipped / (clipped + cfg.adam_eps)).mean().item()
    first_step_noclip = (g_actor.abs() / (g_actor.abs() + cfg.adam_eps)).mean().item()
    return GradientProbe(g_actor.norm().item(), g_critic.norm().item(), coef, first_step, first_step_noclip,
                         (clipped < cfg.adam_eps).double().mean().item(),
                         g_actor.abs().median().item() / cfg.adam_eps)


divisor = scalers[0.9].std
probes = {(scaled, norm_adv): loss_gradients(divisor if scaled else 1.0, norm_adv)
          for scaled in (False, True) for norm_adv in (True, False)}
print(f"global gradient-norm clip {cfg.max_grad_norm}, Adam eps {cfg.adam_eps}")
print(f"{'':30s}{'gradient norms':23s}{'global clip':13s}Adam first step (x lr)")
print("rewards           adv. norm.  |g_actor|  |g_critic|  coefficient   clipped  no clip")
for (scaled, norm_adv), pr in probes.items():
    label = f"divided by {divisor:.1f}" if scaled else "raw"
    print(f"{label:17s} {'on' if norm_adv else 'off':10s}  {pr.g_actor:9.3f}  {pr.g_critic:10.2f}  "
          f"{pr.clip_coef:11.4f}  {pr.adam_step:8.2f}  {pr.adam_step_noclip:7.2f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
raw_on, raw_off, scaled_on, scaled_off = (probes[k] for k in ((False, True), (False, False), (True, True),
                                                                (True, False)))
claim("With raw rewards the critic's gradient is roughly a hundred times the actor's",
      30 < raw_on.g_critic / raw_on.g_actor < 300,
      f"ratio {raw_on.g_critic / raw_on.g_actor:.0f} (tolerance 30 to 300)")
claim("With normalised advantages the actor's gradients then land mostly below Adam's $\\epsilon$ [...] and its first "
      "step moves the actor by a small fraction of the learning rate",
      raw_on.below_eps > 0.5 and raw_on.adam_step < 0.1,
      f"{raw_on.below_eps:.0%} below eps; first step {raw_on.adam_step:.3f} x lr")
claim("Without advantage normalisation the raw advantages [...] make the actor's gradient large enough to survive "
      "the clip", raw_off.adam_step > 4 * raw_on.adam_step,
      f"first step {raw_off.adam_step:.2f} vs {raw_on.adam_step:.2f} x lr with normalised advantages")
claim("Reward scaling [...] shrinks the critic's gradient by about the divisor",
      0.5 < (raw_on.g_critic / scaled_on.g_critic) / divisor < 2,
      f"critic gradient / {raw_on.g_critic / scaled_on.g_critic:.1f}, divisor {divisor:.1f}")
claim("the clip still shrinks every gradient several-fold [with scaled rewards]",
      scaled_on.clip_coef < 0.5 and scaled_off.clip_coef < 0.5,
      f"clip coefficients {scaled_on.clip_coef:.3f} (adv. normalisation on), {scaled_off.clip_coef:.3f} (off)")
claim("Adam's first step [with scaled rewards] is several times larger than with raw rewards and normalised "
      "advantages, and about the same with or without advantage normalisation",
      scaled_on.adam_step > 4 * raw_on.adam_step and abs(scaled_on.adam_step - scaled_off.adam_step) < 0.1,
      f"{scaled_on.adam_step:.2f} (on) and {scaled_off.adam_step:.2f} (off) vs {raw_on.adam_step:.2f} x lr")
claim("[with scaled rewards the clipped first step is] still well short of what it would be without the clip",
      scaled_on.adam_step < 0.75 * scaled_on.adam_step_noclip,
      f"{scaled_on.adam_step:.2f} with the clip, {scaled_on.adam_step_noclip:.2f} without")
claim("[the unclipped step] is below 1 because a freshly initialised network has many small gradients",
      scaled_on.median_noclip < 10, f"median |g| of the actor's parameters {scaled_on.median_noclip:.1f} x eps_Adam")

# %%
display(Markdown(
    f"With raw rewards the critic's gradient is roughly a hundred times the actor's "
    f"({raw_on.g_critic:.1f} against {raw_on.g_actor:.2f}), and the global clip multiplies *both* by the same "
    f"small coefficient ({raw_on.clip_coef:.4f}). With normalised advantages the actor's gradients then land mostly "
    f"below Adam's $\\epsilon$ ({raw_on.below_eps:.0%} of its parameters), where Adam stops rescaling them, and its "
    f"first step moves the actor by a small fraction of the learning rate ({raw_on.adam_step:.2f} of it on average). "
    f"Without advantage normalisation the raw advantages (tens, in reward units) make the actor's gradient large "
    f"enough to survive the clip ({raw_off.adam_step:.2f}).\n\n"
    f"Reward scaling removes much of the cause. It shrinks the critic's gradient by about the divisor (to "
    f"{scaled_on.g_critic:.2f}), but the clip still shrinks every gradient several-fold (coefficient "
    f"{scaled_on.clip_coef:.2f}): a clip that is not mild, and Adam steps that are not full-size. Adam's first step "
    f"averages {scaled_on.adam_step:.2f} of the learning rate, {scaled_on.adam_step / raw_on.adam_step:.0f} times "
    f"the {raw_on.adam_step:.2f} of raw rewards with normalised advantages, about the same with or without advantage "
    f"normalisation ({scaled_off.adam_step:.2f}), and still well short of the {scaled_on.adam_step_noclip:.2f} it "
    f"would be without the clip. (Even that is below 1 because a freshly initialised network has many small "
    f"gradients: the median $|g|$ of the actor's parameters is {scaled_on.median_noclip:.1f} times "
    f"$\\epsilon_{{Adam}}$.)"))

# %% [markdown]
# This is one batch at initialisation, a snapshot rather than a proof: it offers a mechanism for the (unconfirmed)
# lead of `none` over `no_reward` above, and it shows how the three normalisations interact with the rest of the
# algorithm (a shared gradient clip, Adam's $\epsilon$) rather than acting alone.

# %% [markdown]
# ## 5. Explore
#
# **Explorer 1: how noisy are minibatch statistics?** Pick a minibatch size. From the batch of section 4.1, 400
# random minibatches of that size are drawn. Left: their advantage means and standard deviations, in units of the
# full batch's std (the full batch's own values are the dashed lines). Right: the gradient estimates of 4.2 at that
# size. Try 2 (with the population std, any two distinct samples normalise to exactly $-1$ and $+1$), 16, and 512.

# %%
def explore_minibatch(size: int = 16) -> None:
    """Spread of minibatch advantage statistics and of minibatch gradient estimates for one minibatch size."""
    gen = torch.Generator().manual_seed(size)
    idx = torch.rand(400, B, generator=gen).argsort(dim=1)[:, :size]
    picked = adv_raw[idx]  # (400, size)
    batch_mean, batch_std = adv_raw.mean().item(), adv_raw.std(correction=0).item()
    means = (picked.mean(1) - batch_mean) / batch_std
    stds = picked.std(1, correction=0) / batch_std
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.0))
    axes[0].hist(means.numpy(), bins=30, alpha=0.6, label="minibatch mean - batch mean")
    axes[0].hist(stds.numpy(), bins=30, alpha=0.6, label="minibatch std")
    axes[0].axvline(0, color=plots.PALETTE[0], ls="--")
    axes[0].axvline(1, color=plots.PALETTE[1], ls="--")
    axes[0].set_xlabel("in units of the full batch's std")
    axes[0].set_title(f"400 minibatches of {size}", fontsize=10)
    axes[0].legend(fontsize=8)
    s = noise_summary(minibatch_gradients(adv_raw, size, draws=120, seed=size))
    names = ["raw", "centred", "normalised"]
    axes[1].bar(names, [s[f"cos_{k}"] for k in names], color=[plots.PALETTE[3], plots.PALETTE[2], plots.PALETTE[0]])
    axes[1].set_ylim(-0.2, 1)
    axes[1].set_title("mean cosine of a minibatch gradient to the full batch's", fontsize=10)
    plt.tight_layout()
    plots.show(fig, alt=f"Explorer view for minibatches of {size}: histograms of the minibatch mean's offset "
                        "and of the minibatch std, in units of the batch std (left); bars of the mean cosine "
                        "between a minibatch gradient and the full batch's for raw, centred and normalised "
                        "advantages (right).")
    print(f"minibatch mean: typical error {means.std().item():.2f} batch stds; minibatch std: "
          f"between {np.quantile(stds.numpy(), 0.05):.2f} and {np.quantile(stds.numpy(), 0.95):.2f} of the "
          f"batch's (5%-95%)")
    print(f"gradient variance, raw / centred: {s['var_raw'] / s['var_centred']:.1f}x")


widgets.interactive(
    explore_minibatch,
    size=widgets.SelectionSlider(options=[2, 4, 8, 16, 32, 64, 128, 256, 512], value=16,
                                 description="minibatch"),
)

# %% [markdown]
# **Explorer 2: what a constant per-step reward pays for.** The closed form $G(k) = c\,(1-\gamma^k)/(1-\gamma)$ of
# section 2.2 for an episode that terminates after $k$ steps. Move the per-step reward $c$ (what is left after a
# shift) and $\gamma$, and watch which episode length the agent should prefer.

# %%
def explore_shift(reward_per_step: float = 1.0, gamma: float = 0.98) -> None:
    """Value of an episode that terminates after k steps, for a constant reward per step."""
    k = np.arange(1, 501)
    value = reward_per_step * (1 - gamma**k) / (1 - gamma)
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    ax.plot(k, value, color=plots.PALETTE[0])
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("episode length k (terminated)")
    ax.set_ylabel("discounted return G(k)")
    ax.set_title(f"c = {reward_per_step:+.2f} per step, gamma = {gamma}", fontsize=10)
    plots.show(fig, alt="Discounted return of an episode that terminates after k steps, for a reward of "
                        f"{reward_per_step:+.2f} per step and gamma = {gamma}: it grows with k when the "
                        "reward is positive and falls when it is negative.")
    if reward_per_step > 0:
        verdict = "longer is better: the agent is paid to survive"
    elif reward_per_step < 0:
        verdict = "shorter is better: the agent is paid to end the episode"
    else:
        verdict = "every length is worth 0: the reward says nothing about survival"
    print(f"G(10) = {value[9]:.2f}, G(500) = {value[-1]:.2f}; limit c / (1 - gamma) = "
          f"{reward_per_step / (1 - gamma):.2f}.  {verdict}")


widgets.interactive(
    explore_shift,
    reward_per_step=widgets.FloatSlider(value=1.0, min=-2.0, max=2.0, step=0.25, description="reward c"),
    gamma=widgets.SelectionSlider(options=[0.9, 0.95, 0.98, 0.99, 0.999], value=0.98, description="gamma"),
)

# %% [markdown]
# ## 6. Check your understanding
#
# Pick an answer and press Submit; the feedback explains each choice. Your first attempts are scored.

# %%
quiz.show("06.reward_scaling_why")

# %%
quiz.show("06.reward_scaling_how")

# %%
quiz.show("06.shift_changes_task")

# %%
quiz.show("06.advantage_normalisation")

# %%
quiz.show("06.advantage_normalisation_value")

# %%
quiz.show("06.obs_norm_eval")

# %% [markdown]
# **Graded answer cell.** If your course is graded, answers are read from cells like the one below: its first line
# names the question, and the cell assigns `answer` (here a number). Replace `None` with your answer and run the
# cell; `quiz.check` prints feedback. Left at `None`, `quiz.check` says it cannot check the answer (no error and no
# attempt recorded), and the grader gives the cell 0 points with the reason "not answered".

# %%
# QUIZ: 06.advantage_normalisation_value
answer = None  # your number, e.g. 0.5
quiz.check("06.advantage_normalisation_value", answer)

# %%
quiz.score("06")

# %% [markdown]
# ## 7. Debug the bug
#
# ### Exercise 06.normalise_advantages: unnormalised advantages
#
# The function below should prepare a rollout's advantages for the PPO update, as its docstring describes. As
# written, the size of every policy step follows the reward units and the critic's current errors (section 4.1),
# and a batch whose advantages are all negative pushes every sampled action down. Make it meet its docstring. The
# checker tries rollouts with and without fake autoreset steps, and one-env rollouts of shape `(T,)`.

# %%
# EXERCISE: 06.normalise_advantages
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

# %%
exercises.check("06.normalise_advantages", normalise_advantages);

# %% [markdown]
# A FAIL is expected at first: it names the case that failed and what went wrong, not the fix. Edit the exercise
# cell, run it, and check again. Stuck? Run `exercises.hint("06.normalise_advantages")` in a new cell: each call
# reveals the next level of the hint (where to look, then the idea, then the fix). After at least one attempt,
# `exercises.solution("06.normalise_advantages")` shows a worked solution.
#
# ### Exercise 06.one_sample_nan: a one-sample minibatch becomes NaN
#
# This normaliser looks right and works on every ordinary batch. When a rollout's size is not a multiple of the
# minibatch size, the last minibatch of an epoch can hold a single sample, and then the loss, the gradients and,
# one step later, every parameter become NaN, with no error raised. Find out where the NaN is born, and make the
# function return what its docstring promises for every batch size. The checker also tries a constant batch.

# %%
# EXERCISE: 06.one_sample_nan
import torch


def normalise(x, eps=1e-8):
    """Standardise a batch: (x - mean(x)) / (std(x) + eps).

    x:       (B,) values, B >= 1 (the last minibatch of an epoch can hold a single sample)
    eps:     small constant > 0 that keeps the division finite when the std is 0
    returns: (B,) finite values with mean 0: zeros when B == 1 or when all values are equal.
             Either std convention (divide by B or by B - 1) is fine for B >= 2.
    """
    return (x - x.mean()) / (x.std() + eps)

# %%
exercises.check("06.one_sample_nan", normalise);

# %% [markdown]
# A FAIL is expected at first: it names the case that failed and what went wrong, not the fix. Edit the exercise
# cell, run it, and check again. Stuck? Run `exercises.hint("06.one_sample_nan")` in a new cell: each call reveals
# the next level of the hint (where to look, then the idea, then the fix). After at least one attempt,
# `exercises.solution("06.one_sample_nan")` shows a worked solution and explains it.
#
# ### Exercise 06.frozen_obs_norm: the normaliser keeps learning during evaluation
#
# `normalise_obs` is called while collecting training data (`training=True`) and while evaluating
# (`training=False`), with running statistics `rms` as in section 3.2. As written, evaluating the agent changes
# it: after an evaluation the statistics are no longer the ones training left behind (section 4.5 showed what
# that means). Make it behave as its docstring says in both modes.

# %%
# EXERCISE: 06.frozen_obs_norm
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

# %%
exercises.check("06.frozen_obs_norm", normalise_obs);

# %% [markdown]
# A FAIL is expected at first: it names the case that failed and what went wrong, not the fix. Edit the exercise
# cell, run it, and check again. Stuck? Run `exercises.hint("06.frozen_obs_norm")` in a new cell: each call reveals
# the next level of the hint (where to look, then the idea, then the fix). After at least one attempt,
# `exercises.solution("06.frozen_obs_norm")` shows the fix and why it matters.

# %% [markdown]
# ## 8. In practice
#
# ### Starting points, and what this notebook measured
#
# | setting | common starting point | measured here |
# |---|---|---|
# | advantage normalisation | on, per minibatch, after GAE, population std (or skip one-sample minibatches); value targets keep the raw advantages | centring removed most of the gradient noise of a batch at initialisation (4.2); on Pendulum it sped learning (4.6); with unscaled rewards under a shared gradient clip it shrank the actor's first Adam step (end of 4.6) |
# | samples behind each normalisation | 64 or more per minibatch | explorer 1 shows the spread of minibatch means and stds at each size |
# | reward scaling | on when the reward scale is large or unknown: divide by the running std of the discounted return with the agent's $\gamma$, clip at $\pm 10$, never shift | the largest effect of the three on Pendulum (4.6); the scaler's $\gamma$ sets the spread of the value targets (4.3); it does not change the gradient's signal-to-noise ratio, it puts the value loss on the scale the gradient clip and Adam's $\epsilon$ were set for |
# | observation normalisation | on by default in many libraries (clip $\pm 10$), statistics saved and frozen with the agent | on Pendulum slower learning and a lower final return (4.6); once used, the agent is useless without its statistics (4.5) |
# | $\epsilon$ in the denominators | $10^{-8}$ | matters only for constant features and one-sample batches (3.1) |
#
# ### Diagnostics to log
#
# | diagnostic | healthy | warning sign |
# |---|---|---|
# | mean and std of the raw advantages (before normalisation) | the mean moves towards 0 as the critic learns | a mean far from 0 for many updates: the critic lags behind; a huge std: the reward scale |
# | the reward scaler's divisor $\sqrt{\mathrm{Var}[G]}$ | settles within a few updates, then drifts slowly | jumps around: $G$ not reset at episode ends, or autoreset steps counted |
# | value loss | of order 1 or below with scaled rewards (4.6 prints the first updates') | hundreds or more: unscaled rewards, and critic gradients dominating a shared clip |
# | explained variance | rises towards 1 (4.6, right panel) | stays near 0 or negative |
# | share of normalised observations at $\pm 10$ | close to 0 | more than rare: stale or missing statistics, or inputs that drifted away from the training data |
# | evaluation vs training return | deterministic evaluation at least as good as training | much worse in evaluation: observation statistics not saved, not loaded or not frozen |
#
# ### Failure signs
#
# - The loss becomes NaN right after the last, tiny minibatch of an epoch (exercise 06.one_sample_nan).
# - The agent learns to end its episodes early, or stops caring how long they last: look for a shifted or centred
#   reward (4.4).
# - Training curves look fine, evaluation is poor: the observation statistics did not travel with the weights (4.5,
#   exercise 06.frozen_obs_norm).
# - Learning stalls while the value loss is huge: rewards not scaled; log the gradient-clip coefficient (4.6).

# %% [markdown]
# ## 9. Critical view and ethics
#
# - **Clipping can hide the rare, large event.** `RewardScaler` and `ObsNormaliser` clip to $\pm 10$ standard
#   deviations. A rare, severe penalty (a crash, a harmful action) that is far out in the tail gets clipped to the
#   same size as a merely bad step, and the agent learns it is not much worse. If rare costs matter, check how often
#   the clip is hit, and treat safety costs as explicit constraints rather than as part of a normalised reward.
# - **"Just a detail" can change the task.** Section 4.4 changed no line of the learning algorithm, only a constant
#   in the reward, and the agent learned the opposite behaviour. Reward design choices, including normalisation
#   code, decide what an agent is paid for; they deserve the same review as the objective itself.
# - **Statistics encode the training distribution.** A deployed agent normalises its inputs with the statistics of
#   its training data. If the world it meets drifts away from that data, its inputs are silently off-scale. Log the
#   normalised inputs in deployment and alarm when they sit at the clip.
# - **Reporting.** Engstrom et al. (2020) and Andrychowicz et al. (2021) found that choices like these move results as
#   much as the choice of algorithm. A comparison that does not state them (and their seeds and spread) cannot be
#   reproduced or trusted.
# - **Non-stationarity is built in.** Running statistics change while the agent learns, so the networks chase moving
#   inputs and targets. It works because the statistics settle as counts grow; it is one more reason to report the
#   variance across seeds rather than a single lucky curve.

# %% [markdown]
# ## 10. Further reading
#
# - Engstrom, Ilyas, Santurkar, Tsipras, Janoos, Rudolph & Madry (2020), *Implementation Matters in Deep Policy
#   Gradients: A Case Study on PPO and TRPO*, ICLR, [arXiv:2005.12729](https://arxiv.org/abs/2005.12729). Reward
#   scaling by the running std of the discounted return is one of the code-level choices they isolate, with a
#   large measured effect on PPO's results.
# - Andrychowicz, Raichuk, Stańczyk, Orsini, Girgin, Marinier, Hussenot, Geist, Pietquin, Michalski, Gelly &
#   Bachem (2021), *What Matters in On-Policy Reinforcement Learning? A Large-Scale Empirical Study*, ICLR,
#   [arXiv:2006.05990](https://arxiv.org/abs/2006.05990). Hundreds of thousands of runs; recommends observation
#   normalisation by default and measures advantage normalisation and value-function normalisation, among many
#   other choices.
# - Huang, Dossa, Raffin, Kanervisto & Wang (2022), *The 37 Implementation Details of Proximal Policy Optimization*,
#   ICLR Blog Track ([the post](https://iclr-blog-track.github.io/2022/03/25/ppo-implementation-details/); a blog
#   post, with no arXiv id). Where each normalisation sits in the reference implementation (per-minibatch advantage
#   normalisation, `VecNormalize`-style observation and reward normalisation) and what each is for.
# - Schulman, Moritz, Levine, Jordan & Abbeel (2016), *High-Dimensional Continuous Control Using Generalized
#   Advantage Estimation*, ICLR, [arXiv:1506.02438](https://arxiv.org/abs/1506.02438). The advantages being
#   normalised here, and the bias-variance view behind baselines.
# - van Hasselt, Guez, Hessel, Mnih & Silver (2016), *Learning Values Across Many Orders of Magnitude*, NeurIPS,
#   [arXiv:1602.07714](https://arxiv.org/abs/1602.07714). PopArt: normalising the critic's targets adaptively
#   while preserving its outputs, the principled cousin of reward scaling.
# - Pardo, Tavakoli, Levdik & Kormushev (2018), *Time Limits in Reinforcement Learning*, ICML,
#   [arXiv:1712.00378](https://arxiv.org/abs/1712.00378). Why truncation is not termination; together with 2.2 it
#   explains when a reward shift is harmless.
# - Chan, Golub & LeVeque (1979), *Updating Formulae and a Pairwise Algorithm for Computing Sample Variances*,
#   Stanford technical report STAN-CS-79-773. The merge formula behind every
#   running-statistics class in this notebook.

# %% [markdown]
# ## 11. Glossary and key takeaways
#
# | term | meaning |
# |---|---|
# | advantage normalisation | $(\hat A - \mu)/(\sigma + \epsilon)$ per batch or minibatch, after GAE, for the policy loss only |
# | centring | subtracting the batch mean: a baseline, removes the noise term $\mu\,\bar\ell$ from the gradient estimate |
# | population std | divides by $B$; finite (0) for one sample, unlike torch's default `std()` (divides by $B-1$) |
# | reward scaling | $r/\sqrt{\mathrm{Var}[G]+\epsilon}$ with $G$ the running discounted return, with the algorithm's $\gamma$ |
# | reward shift | $r + b$: changes what an episodic agent is paid for (survival or ending the episode) |
# | running statistics | mean and variance merged batch by batch (Chan et al.), equal to those of all data seen |
# | observation normalisation | $\mathrm{clip}((o-\mu)/\sqrt{\sigma^2+\epsilon}, -10, 10)$ with running $\mu, \sigma^2$ |
# | frozen statistics | no longer updated: during evaluation and deployment, saved with the weights |
#
# **Key takeaways**
# 1. Advantage normalisation is a centring plus a positive rescaling. Centring is a baseline and can remove most of
#    the gradient noise (at the start of training, almost all of it); the rescaling keeps the policy loss on one scale
#    across batches and against the other loss terms, and under Adam does little else. The value targets keep the
#    raw advantages.
# 2. Use the population std (or guard tiny batches): a one-sample minibatch must give 0, not NaN.
# 3. Rewards are scaled, never shifted: a positive factor keeps every preference, a constant added to every step
#    changes whether the agent wants its episodes long or short. Scale by the std of the discounted return with the
#    algorithm's own $\gamma$.
# 4. Observation statistics are part of the agent: update them while training, freeze and save them with the
#    weights, load them for evaluation.
# 5. Which normalisation matters how much depends on the task and the optimiser; measure it with several seeds,
#    as in section 4.6.
#
# **Next:** the full PPO loop with every piece of notebooks 01 to 06, ablations, and the bridge to
# Stable-Baselines3.
#
# [Next: 07 · PPO end to end](07_ppo_end_to_end.ipynb)
