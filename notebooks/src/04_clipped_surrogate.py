# %% [markdown]
# # 04 · The clipped surrogate: how PPO keeps an update honest
#
# **After this notebook you can**
# - write the probability ratio $r_t(\theta)$ and PPO's clipped objective $L^{CLIP}$, and explain every term;
# - say, for any sample, whether it gets a gradient and why (the min is a *pessimistic bound*, not a cap on the loss);
# - show with an experiment what happens when one batch is optimised for many epochs with and without clipping;
# - read the diagnostics PPO logs (clip fraction, approximate KL, the ratio histogram, the entropy) and know their
#   healthy ranges; measure what the entropy bonus $c_2 H$ does on a task where the policy must keep exploring;
# - find and fix three classic bugs: a surrogate without clipping, a ratio that pushes every probability the
#   wrong way, and an entropy bonus with the wrong sign.
#
# **Prerequisites:** notebook 03 (advantages, GAE, the policy-gradient loss $-\mathbb{E}[\log\pi(a|s)\,\hat A]$);
# PyTorch autograd; what an Adam step does.
#
# **Time:** about 45 minutes to read and try. Running all cells takes **48 s** on a 2-core CPU without a GPU
# (measured from a fresh kernel by `make time-notebooks`, load average 1.07; a busier machine is slower).

# %%
import copy
from dataclasses import dataclass, field

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from tqdm.auto import tqdm

from course_lib import exercises, plots, quiz
from course_lib.agent import ActorCriticAgent
from course_lib.algos import ppo
from course_lib.algos.onpolicy import advantages_and_returns
from course_lib.claims import claim
from course_lib.envs import make_vec_env
from course_lib.deceptive_env import (DECEPTIVE_CORRIDOR_ID, GO, DeceptiveCorridor, categorical_entropy,
                                     expected_return, max_entropy, success_probability)
from course_lib.diagnostics import kl_exact, kl_k3
from course_lib.losses import policy_gradient_loss, ppo_clip_loss
from course_lib.networks import CategoricalActor
from course_lib.normalisation import normalise_advantages
from course_lib.rollout import FlatBatch, RolloutCollector
from course_lib.stats import bootstrap_ci
from course_lib.evaluation import evaluate

torch.set_num_threads(1)
plots.use_course_style()
SEED = 0
SEEDS = (0, 1, 2, 3, 4, 5)  # every comparison below runs once per seed and reports a 95% bootstrap CI over them
torch.manual_seed(SEED)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. Intuition and terms
#
# Picture a surveyor who sketches the terrain from one lookout point. Near the lookout the sketch is accurate;
# a kilometre away it is mostly guesswork. A sensible hiker walks a short way using the sketch, then climbs a
# new lookout and draws again. Walking ten kilometres on the first sketch because "it says the valley keeps
# going down" is how you get lost.
#
# In policy-gradient learning the *sketch* is the batch of experience collected by the current policy
# $\pi_{\theta_{old}}$: its states, the actions it sampled, and advantage estimates that say which actions turned
# out better than expected. From that batch we build a **surrogate objective** that predicts how good a changed
# policy $\pi_\theta$ would be. The prediction is trustworthy only while $\pi_\theta$ stays close to
# $\pi_{\theta_{old}}$. Plain policy gradient takes one step per batch, which is wasteful; optimising the same
# batch for many steps is efficient but walks off the sketch. PPO's answer is to change the objective so that it
# **stops paying** for moving an action's probability more than a factor $1 \pm \epsilon$ away from where it was.
#
# The figure below shows what "a factor $1 \pm \epsilon$" means for one state with four actions. The band is
# *relative*, $\epsilon$ times the old probability on each side: a likely action may move by several percentage
# points before the objective stops rewarding the change, a rare action by about one point or less.

# %%
p_old = np.array([0.55, 0.25, 0.15, 0.05])  # pi_old(a|s) for four actions in one state
eps_demo = 0.2
fig, ax = plt.subplots(figsize=(6.5, 3.0))
x = np.arange(len(p_old))
ax.bar(x, p_old, width=0.5, color=plots.PALETTE[0], alpha=0.7, label=r"$\pi_{old}(a|s)$")
ax.errorbar(x, p_old, yerr=eps_demo * p_old, fmt="none", capsize=10, color="black",
            label=rf"band $\pi_{{old}}(a|s)\,[1-\epsilon, 1+\epsilon]$, $\epsilon={eps_demo}$")
ax.set_xticks(x, [f"action {i}" for i in x])
ax.set_ylabel("probability")
ax.set_title("Where the clipped objective still rewards a change (one state)")
ax.legend(loc="upper right")
plots.show(fig, alt="Bar chart of the old policy's probabilities for four actions in one state "
                    f"({', '.join(f'{p:g}' for p in p_old)}), with error bars from (1 - epsilon) to (1 + "
                    "epsilon) times each probability: the band is wide for likely actions and narrow for "
                    "rare ones.")
for i, p in enumerate(p_old):
    print(f"action {i}: pi_old = {p:.2f}, band = [{p * (1 - eps_demo):.3f}, {p * (1 + eps_demo):.3f}]"
          f"  (width {2 * eps_demo * p:.3f})")
half_width_points = 100 * eps_demo * p_old  # how far each action may move either way, in percentage points

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("a likely action may move by several percentage points before the objective stops rewarding the change, "
      "a rare action by about one point or less",
      bool(half_width_points.max() >= 3 and half_width_points.min() <= 1 + 1e-9),
      f"half-widths {half_width_points.round(1)} percentage points for pi_old = {p_old}")

# %% [markdown]
# **Key terms**
#
# | term | meaning here |
# |---|---|
# | old policy $\pi_{\theta_{old}}$ | the policy that collected the batch; frozen during the update |
# | probability ratio $r_t(\theta)$ | $\pi_\theta(a_t \mid s_t) / \pi_{\theta_{old}}(a_t \mid s_t)$: how much more (>1) or less (<1) likely the new policy makes the action that was taken |
# | surrogate objective | a function of $\theta$, estimated from the old batch, whose gradient at $\theta_{old}$ is the policy gradient |
# | clip range $\epsilon$ | the half-width of the band $[1-\epsilon, 1+\epsilon]$ for the ratio (0.2 is the usual default) |
# | epoch | one pass over the batch; PPO runs several epochs of minibatch steps per batch |
# | clip fraction | share of samples whose ratio is outside the band: a diagnostic of how far the update went |
# | approximate KL | an estimate of $\mathrm{KL}(\pi_{old} \,\Vert\, \pi_\theta)$ from the batch: another distance diagnostic |
# | entropy $H[\pi](s)$ | $-\sum_a \pi(a \mid s)\log\pi(a \mid s)$: how uncertain the policy is in a state; 0 when deterministic, at most $\log\lvert A \rvert$ |
# | entropy bonus, $c_2$ (`ent_coef`) | the term $-c_2 H$ in PPO's loss that pays the policy for staying uncertain, so that it keeps exploring |

# %% [markdown]
# ## 2. The maths
#
# **Policy gradient (notebook 03).** With advantages $\hat A_t$ from the batch,
# $$\nabla_\theta J \approx \hat{\mathbb{E}}_t\big[\nabla_\theta \log \pi_\theta(a_t|s_t)\,\hat A_t\big],$$
# where $\hat{\mathbb{E}}_t$ is the average over the batch. That is one step per batch.
#
# **The ratio and the plain surrogate.** The samples came from $\pi_{\theta_{old}}$. Re-weighting each one by
# $$r_t(\theta) = \frac{\pi_\theta(a_t|s_t)}{\pi_{\theta_{old}}(a_t|s_t)} = \exp\big(\texttt{logp}_t - \texttt{logp\_old}_t\big)$$
# gives the surrogate of conservative policy iteration (Kakade & Langford 2002), also used by TRPO:
# $$L^{CPI}(\theta) = \hat{\mathbb{E}}_t\big[r_t(\theta)\,\hat A_t\big].$$
# Since $\nabla_\theta r_t = r_t \nabla_\theta \log\pi_\theta(a_t|s_t)$ and $r_t = 1$ at $\theta = \theta_{old}$,
# the gradient of $L^{CPI}$ at $\theta_{old}$ *is* the policy gradient above. Further away the estimate degrades:
# the ratio corrects for *which actions* get sampled, but the states are those the old policy visited and the
# advantages are the old policy's. Nothing in $L^{CPI}$ says so;
# for a sample with $\hat A_t > 0$ it keeps rewarding a larger $r_t$ for ever.
#
# **The clipped surrogate** (Schulman et al. 2017, eq. 7):
# $$L^{CLIP}(\theta) = \hat{\mathbb{E}}_t\Big[\min\big(r_t(\theta)\,\hat A_t,\ \mathrm{clip}(r_t(\theta), 1-\epsilon, 1+\epsilon)\,\hat A_t\big)\Big].$$
# Per sample, working out the min case by case:
# $$\min(\cdot) = \begin{cases} \min(r_t,\ 1+\epsilon)\,\hat A_t & \hat A_t > 0 \\ \max(r_t,\ 1-\epsilon)\,\hat A_t & \hat A_t < 0 \end{cases}$$
# - $\hat A_t > 0$ (a good action): raising its probability pays until $r_t = 1+\epsilon$, then the term is flat.
#   Lowering it is never flattened: if $r_t$ fell below $1-\epsilon$ the full (worse) value $r_t \hat A_t$ counts.
# - $\hat A_t < 0$ (a bad action): lowering its probability pays until $r_t = 1-\epsilon$, then flat.
#   Raising it is counted in full, however far it goes.
#
# **Which samples get a gradient.** Writing $\texttt{logp}_t = \log\pi_\theta(a_t|s_t)$,
# $$\frac{\partial}{\partial\,\texttt{logp}_t} \min(\cdot) = \begin{cases} 0 & \hat A_t > 0 \text{ and } r_t > 1+\epsilon, \text{ or } \hat A_t < 0 \text{ and } r_t < 1-\epsilon \\ r_t\,\hat A_t & \text{otherwise.} \end{cases}$$
# Zero gradient happens only on the side where moving further would have *helped* the objective.
#
# **A pessimistic bound.** Since $\min(x, y) \le x$, every term satisfies
# $\min(\cdot) \le r_t \hat A_t$, so $L^{CLIP}(\theta) \le L^{CPI}(\theta)$, with equality while all ratios are
# inside the band. PPO optimises a lower bound of the plain surrogate: it ignores predicted gains beyond the band and
# keeps every predicted loss.
#
# **The loss we minimise** is $-L^{CLIP}$ (the full PPO loss adds a value term and an entropy bonus: section 4 measures the bonus, notebook 07 puts the
# loss together).
# Two diagnostics, both computed from the same batch:
# $$\text{clip fraction} = \hat{\mathbb{E}}_t\big[\mathbf{1}[\,|r_t - 1| > \epsilon\,]\big], \qquad
# \widehat{\mathrm{KL}}_{k3} = \hat{\mathbb{E}}_t\big[(r_t - 1) - \log r_t\big] \approx \mathrm{KL}(\pi_{old}\,\|\,\pi_\theta).$$
# The second is never negative per sample and is unbiased for actions sampled from $\pi_{old}$ (Schulman 2020;
# notebook 05 compares KL estimators).
#
# The picture the PPO paper draws (its figure 1) is one term of $L^{CLIP}$ as a function of $r$. Here it is
# with the gradient underneath; the explorer in section 5 lets you move $\epsilon$ and $\hat A$.

# %%
def clip_term(r: np.ndarray, adv: float, clip_eps: float) -> np.ndarray:
    """One sample's clipped surrogate min(r A, clip(r, 1 - eps, 1 + eps) A) for an array of ratios r (any shape)."""
    # min(r A, clip(r, 1 - eps, 1 + eps) A)
    return np.minimum(r * adv, np.clip(r, 1 - clip_eps, 1 + clip_eps) * adv)


def clip_term_slope(r: np.ndarray, adv: float, clip_eps: float) -> np.ndarray:
    """d/dr of clip_term: A, except 0 where the clipped (constant) term is the smaller one. Shape of r."""
    flat = (adv > 0) & (r > 1 + clip_eps) | (adv < 0) & (r < 1 - clip_eps)
    # d/dr min(...) = 0 on the flat side, A elsewhere
    return np.where(flat | (adv == 0), 0.0, adv)


def draw_clip_figure(axes, adv: float, clip_eps: float, r_mark: float | None = None) -> None:
    """Objective (top) and its slope (bottom) against r for one advantage, on a column of two axes."""
    r = np.linspace(0.0, 2.0, 801)
    top, bottom = axes
    top.plot(r, r * adv, "--", color="grey", label=r"$r\hat A$ (plain)")
    top.plot(r, clip_term(r, adv, clip_eps), color=plots.PALETTE[0], lw=2, label=r"$L^{CLIP}$ term")
    slope = clip_term_slope(r, adv, clip_eps)
    bottom.plot(r, slope, color=plots.PALETTE[3], lw=2)
    bottom.fill_between(r, 0, 1, where=slope == 0, color=plots.PALETTE[3], alpha=0.12,
                        transform=bottom.get_xaxis_transform(), label="zero gradient")
    for ax in axes:
        ax.axvspan(1 - clip_eps, 1 + clip_eps, color=plots.PALETTE[2], alpha=0.1)
        ax.axvline(1.0, color="black", lw=0.6)
    if r_mark is not None:
        top.plot([r_mark], [clip_term(np.array(r_mark), adv, clip_eps)], "o", color="black")
        bottom.plot([r_mark], [clip_term_slope(np.array(r_mark), adv, clip_eps)], "o", color="black")
    top.set_title(rf"$\hat A = {adv:+.2f}$, $\epsilon = {clip_eps:.2f}$")
    top.set_ylabel("objective")
    bottom.set_ylabel(r"$\partial / \partial r$")
    bottom.set_xlabel(r"ratio $r = \pi_\theta / \pi_{old}$")
    top.legend(loc="best", fontsize=8)
    bottom.legend(loc="best", fontsize=8)


fig, axes = plt.subplots(2, 2, figsize=(9, 5), sharex=True, height_ratios=(2, 1))
draw_clip_figure(axes[:, 0], adv=1.0, clip_eps=0.2)
draw_clip_figure(axes[:, 1], adv=-1.0, clip_eps=0.2)
fig.suptitle("One term of the clipped surrogate (green band: [1 - eps, 1 + eps])")
plt.tight_layout()
plots.show(fig, alt="One term of the clipped surrogate against the ratio r, for a positive advantage (left) "
                    "and a negative one (right): top, the unclipped and the clipped objective; bottom, their "
                    "slopes with respect to r; the band from 1 - epsilon to 1 + epsilon shaded green.")

# %% [markdown]
# The slope drawn above is the closed form from the case analysis. The next cell checks it against autograd on a
# grid of ratios (away from the kinks at $1 \pm \epsilon$, where the derivative does not exist), and checks the
# pessimistic bound $L^{CLIP} \le L^{CPI}$ term by term.

# %%
# NBVAL_CHECK_OUTPUT
r_grid = torch.linspace(0.05, 2.0, 391, dtype=torch.float64)
worst_slope_error, worst_bound_gap = 0.0, -np.inf
for adv_value in (-1.5, -0.3, 0.0, 0.7, 2.0):
    for eps_value in (0.1, 0.2, 0.3):
        away_from_kinks = ((r_grid - (1 - eps_value)).abs() > 1e-3) & ((r_grid - (1 + eps_value)).abs() > 1e-3)
        r_t = r_grid[away_from_kinks].clone().requires_grad_(True)
        term = torch.minimum(r_t * adv_value, torch.clamp(r_t, 1 - eps_value, 1 + eps_value) * adv_value)
        (slope_autograd,) = torch.autograd.grad(term.sum(), r_t)
        slope_closed = clip_term_slope(r_t.detach().numpy(), adv_value, eps_value)
        worst_slope_error = max(worst_slope_error, float(np.abs(slope_autograd.numpy() - slope_closed).max()))
        # pessimism: L_clip - L_cpi <= 0 for every ratio
        gap = clip_term(r_grid.numpy(), adv_value, eps_value) - r_grid.numpy() * adv_value
        worst_bound_gap = max(worst_bound_gap, float(gap.max()))
print(f"largest |autograd slope - closed-form slope| on the grid: {worst_slope_error:.4f}")
print(f"largest value of L_clip - L_cpi over all ratios, advantages and eps: {worst_bound_gap:.4f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("the closed-form slope agrees with autograd away from the kinks",
      bool(worst_slope_error < 1e-12), f"largest difference {worst_slope_error:.1e}")
claim("every term satisfies min(.) <= r_t A_t, so L_CLIP <= L_CPI",
      bool(worst_bound_gap <= 0.0), f"largest L_clip - L_cpi on the grid {worst_bound_gap:.1e}")

# %% [markdown]
# ## 3. Build it
#
# First the two surrogates written small, in the notebook. Both take per-sample log-probabilities, so the ratio
# is computed in log space (`exp(logp - logp_old)`), which stays finite when probabilities are tiny. `logp_old`
# and `adv` are constants of the batch, detached so that no gradient flows into them.

# %%
def plain_surrogate_loss(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """-L_CPI = -mean(r A) with r = exp(logp - logp_old). logp, logp_old, adv: (B,) -> scalar loss."""
    # r_t = exp(logp_t - logp_old_t)
    ratio = torch.exp(logp - logp_old.detach())
    # L_CPI = mean_t r_t A_t
    return -(ratio * adv.detach()).mean()


def clipped_surrogate_small(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor,
                            clip_eps: float) -> tuple[torch.Tensor, float, float]:
    """-L_CLIP and two diagnostics. logp, logp_old, adv: (B,) -> (scalar loss, clip fraction, k3 KL estimate)."""
    adv = adv.detach()
    # r_t = exp(logp_t - logp_old_t)
    ratio = torch.exp(logp - logp_old.detach())
    # L_CLIP = mean_t min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)
    objective = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    with torch.no_grad():
        # clip fraction = mean_t 1[|r_t - 1| > eps]
        clip_fraction = ((ratio - 1).abs() > clip_eps).float().mean().item()
        # k3 = mean_t (r_t - 1) - log r_t
        approx_kl = ((ratio - 1) - torch.log(ratio)).mean().item()
    return -objective.mean(), clip_fraction, approx_kl


# %% [markdown]
# Now the same thing from `course_lib.losses.ppo_clip_loss`, which returns the loss and a `ClipStats` named tuple.
# Both are run on one fixed random batch (seeded), and we compare the loss, the gradient with respect to `logp`
# and the diagnostics.

# %%
# NBVAL_CHECK_OUTPUT
g = torch.Generator().manual_seed(SEED)
B = 16
logp_old_demo = -torch.rand(B, generator=g, dtype=torch.float64) * 2.5 - 0.1   # log-probs in (-2.6, -0.1)
logp_demo = logp_old_demo + 0.3 * torch.randn(B, generator=g, dtype=torch.float64)
adv_demo = torch.randn(B, generator=g, dtype=torch.float64)

logp_mine = logp_demo.clone().requires_grad_(True)
loss_mine, cf_mine, kl_mine = clipped_surrogate_small(logp_mine, logp_old_demo, adv_demo, clip_eps=0.2)
loss_mine.backward()

logp_lib = logp_demo.clone().requires_grad_(True)
loss_lib, stats_lib = ppo_clip_loss(logp_lib, logp_old_demo, adv_demo, clip_eps=0.2)
loss_lib.backward()

print(f"loss           notebook {loss_mine.item():.4f}   course_lib {loss_lib.item():.4f}")
print(f"clip fraction  notebook {cf_mine:.4f}   course_lib {stats_lib.clip_fraction:.4f}")
print(f"approx KL (k3) notebook {kl_mine:.4f}   course_lib {stats_lib.approx_kl:.4f}")
grad_gap = (logp_mine.grad - logp_lib.grad).abs().max().item()
print(f"largest |gradient difference| w.r.t. logp: {grad_gap:.1e}")
loss_plain_demo = plain_surrogate_loss(logp_demo, logp_old_demo, adv_demo).item()
print(f"plain surrogate loss on the same batch: {loss_plain_demo:.4f}  (lower: -L_CPI <= -L_CLIP, the bound again)")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("the notebook's clipped surrogate and course_lib.losses.ppo_clip_loss agree: loss, gradient and diagnostics",
      bool(abs(loss_mine.item() - loss_lib.item()) < 1e-12 and grad_gap < 1e-12
           and abs(cf_mine - stats_lib.clip_fraction) < 1e-12 and abs(kl_mine - stats_lib.approx_kl) < 1e-12),
      f"loss {loss_mine.item():.6f} vs {loss_lib.item():.6f}, gradient gap {grad_gap:.1e}, "
      f"clip fraction {cf_mine} vs {stats_lib.clip_fraction}, KL {kl_mine:.6f} vs {stats_lib.approx_kl:.6f}")
claim("the plain surrogate loss is lower: -L_CPI <= -L_CLIP",
      bool(loss_plain_demo <= loss_mine.item()), f"-L_CPI {loss_plain_demo:.4f}, -L_CLIP {loss_mine.item():.4f}")

# %% [markdown]
# **The first step is the ordinary policy gradient.** Before any update, $\theta = \theta_{old}$, every ratio is
# 1 (in floating point, up to rounding: collection and update may compute the log-softmax along different paths),
# nothing is clipped, and the gradient of $-L^{CLIP}$ with respect to the *network's parameters* equals that of
# the policy-gradient loss $-\hat{\mathbb{E}}[\log\pi_\theta(a_t|s_t)\,\hat A_t]$ from notebook 03. The check
# below uses a small freshly initialised actor and random states.

# %%
torch.manual_seed(SEED)
tiny_actor = CategoricalActor(obs_dim=4, n_actions=2, hidden=(16,))
states = torch.randn(64, 4)
with torch.no_grad():
    actions, logp_at_collection = tiny_actor.act(states)
adv_tiny = torch.randn(64)


def actor_grads(loss: torch.Tensor) -> torch.Tensor:
    """All of tiny_actor's parameter gradients of `loss`, flattened into one vector."""
    return torch.cat([gr.flatten() for gr in torch.autograd.grad(loss, list(tiny_actor.parameters()))])


logp_now = tiny_actor.log_prob(tiny_actor.distribution(states), actions)
grad_clip = actor_grads(ppo_clip_loss(logp_now, logp_at_collection, adv_tiny, clip_eps=0.2)[0])
logp_now = tiny_actor.log_prob(tiny_actor.distribution(states), actions)
grad_pg = actor_grads(policy_gradient_loss(logp_now, adv_tiny))
first_ratio_gap = (torch.exp(logp_now - logp_at_collection) - 1).abs().max().item()
first_grad_gap = (grad_clip - grad_pg).abs().max().item()
print(f"largest |r - 1| before the first step: {first_ratio_gap:.1e}")
print(f"largest |d(-L_clip)/d(theta) - d(-mean(logp * A))/d(theta)|: {first_grad_gap:.1e} "
      f"(gradient norm {grad_pg.norm().item():.3f})")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Before any update every ratio is 1 (up to rounding), nothing is clipped, and the gradient of -L_CLIP equals that of "
      "the policy-gradient loss",
      bool(first_ratio_gap < 1e-6 and first_grad_gap < 1e-6),
      f"largest |r - 1| = {first_ratio_gap:.1e}, largest gradient difference {first_grad_gap:.1e}")

# %% [markdown]
# ### Autograd on a tiny batch: who gets a gradient?
#
# Six samples, one in each interesting region: ratios above and below the band with positive and negative
# advantages, plus one sample of each sign inside the band. We differentiate the *sum* of the per-sample
# $L^{CLIP}$ terms with respect to each sample's `logp`, so each printed number is that sample's own gradient.
# The last column does the same for a tempting shortcut, **clamp without the min**:
# $\hat{\mathbb{E}}[\mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon)\,\hat A_t]$.

# %%
# NBVAL_CHECK_OUTPUT
eps = 0.2
ratio_six = torch.tensor([1.5, 0.5, 1.5, 0.5, 1.1, 0.9], dtype=torch.float64)
adv_six = torch.tensor([1.0, 1.0, -1.0, -1.0, 2.0, -2.0], dtype=torch.float64)
logp_old_six = torch.full((6,), -1.0, dtype=torch.float64)


def per_sample_grads(objective_terms) -> torch.Tensor:
    """d(sum of per-sample terms)/d(logp) for the six samples: each entry is one sample's own gradient."""
    logp = (logp_old_six + ratio_six.log()).requires_grad_(True)
    r = torch.exp(logp - logp_old_six)
    (grad,) = torch.autograd.grad(objective_terms(r).sum(), logp)
    return grad


grad_min = per_sample_grads(lambda r: torch.minimum(r * adv_six, torch.clamp(r, 1 - eps, 1 + eps) * adv_six))
grad_clamp_only = per_sample_grads(lambda r: torch.clamp(r, 1 - eps, 1 + eps) * adv_six)
print("   r      A  | min picks      | dL/dlogp (min) | closed form r*A or 0 | clamp only")
for r_i, a_i, g_min, g_clamp in zip(ratio_six.tolist(), adv_six.tolist(), grad_min.tolist(), grad_clamp_only.tolist()):
    helped_beyond_band = (a_i > 0 and r_i > 1 + eps) or (a_i < 0 and r_i < 1 - eps)
    picks = "clipped (flat)" if helped_beyond_band else ("both (equal)" if abs(r_i - 1) <= eps else "unclipped")
    closed = 0.0 if helped_beyond_band else r_i * a_i
    print(f"{r_i:5.2f} {a_i:+6.2f}  | {picks:14s} | {g_min:+14.4f} | {closed:+20.4f} | {g_clamp:+10.4f}")
helped_six = ((adv_six > 0) & (ratio_six > 1 + eps)) | ((adv_six < 0) & (ratio_six < 1 - eps))
wrong_way_six = ((adv_six > 0) & (ratio_six < 1 - eps)) | ((adv_six < 0) & (ratio_six > 1 + eps))

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Zero gradient happens only on the side where moving further would have helped the objective; "
      "elsewhere the gradient is r_t A_t",
      bool(torch.all((grad_min == 0) == helped_six)
           and torch.allclose(grad_min[~helped_six], (ratio_six * adv_six)[~helped_six], atol=1e-12)),
      f"gradients {grad_min.numpy().round(4)}, profitable-side clipped {helped_six.numpy()}")
claim("the clamp-only column: rows 2 and 3 get zero too",
      bool(torch.all(grad_clamp_only[wrong_way_six] == 0) and torch.all(grad_min[wrong_way_six] != 0)),
      f"clamp-only gradients {grad_clamp_only.numpy().round(4)}; rows past the band the wrong way "
      f"{(np.flatnonzero(wrong_way_six.numpy()) + 1).tolist()}")

# %% [markdown]
# Read the rows:
# - rows 1 and 4: the ratio moved past the band *in the direction the advantage asked for*. The min picks the
#   constant clipped term, the gradient is zero: there is nothing more to gain, so the sample stops pulling.
# - rows 2 and 3: the ratio moved past the band *the wrong way* (a good action became less likely, a bad one more
#   likely). The min keeps the unclipped term and its full gradient $r_t \hat A_t$, which pulls the ratio back.
# - rows 5 and 6: inside the band both terms agree and the usual ratio-weighted gradient flows.
# - the clamp-only column: rows 2 and 3 get **zero** too. Once a sample has gone the wrong way past the band, the
#   shortcut cannot undo it. That is why the min is there.
#
# ### Does the min cap the loss?
#
# > **Common misconception.** "The min in $L^{CLIP}$ is there to stop the loss from getting too large."
# > It does the opposite of capping: the min makes $L^{CLIP}$ a pessimistic lower bound of the plain surrogate,
# > so a change that makes the objective worse is counted in full, however large the loss becomes. The evidence
# > is the table below (one bad action whose probability keeps rising) and the clamp-only column of the autograd
# > table above, where the version without the min stops correcting the samples that went the wrong way.
#
# Take one bad action ($\hat A = -1$) whose probability the update keeps raising:

# %%
# NBVAL_CHECK_OUTPUT
adv_bad = -1.0
print("   r   | loss term -min(r A, clip(r) A) | clamp-only loss term -clip(r) A")
loss_with_min, loss_clamp_only = [], []
for r_value in (1.0, 1.5, 2.0, 5.0, 10.0):
    with_min = -min(r_value * adv_bad, float(np.clip(r_value, 1 - eps, 1 + eps)) * adv_bad)
    clamp_only = -float(np.clip(r_value, 1 - eps, 1 + eps)) * adv_bad
    loss_with_min.append(with_min)
    loss_clamp_only.append(clamp_only)
    print(f"{r_value:6.1f} | {with_min:30.4f} | {clamp_only:31.4f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("With the min the loss grows without bound as the bad action becomes more likely; the clamp-only version "
      "caps the loss (at 1 + eps here)",
      bool(np.all(np.diff(loss_with_min) > 0) and loss_with_min[-1] == 10.0
           and max(loss_clamp_only) == 1 + eps and loss_clamp_only[-1] == loss_clamp_only[1]),
      f"with min {loss_with_min}, clamp only {loss_clamp_only}")

# %% [markdown]
# With the min the loss grows without bound as the bad action becomes more likely, and its gradient keeps
# pushing back. It is the clamp-only version that caps the loss (at $1+\epsilon$ here), and capping is exactly
# what breaks it. **The right statement:** the min makes $L^{CLIP}$ a pessimistic lower bound of the plain
# surrogate. A ratio change is ignored when it would improve the objective beyond the band, and counted in full
# when it makes the objective worse. The gradient is zero only for samples clipped on the side that helps.

# %% [markdown]
# ## 4. Experiments: one batch, many epochs, with and without the clip
#
# The central question: if we keep optimising one batch, does clipping actually keep the new policy close to the
# old one, and does that matter for how well the policy plays?
#
# **Set-up** (per seed, 6 seeds; every summary is the mean over seeds with its 95 % bootstrap confidence
# interval, CI):
# 1. Train a PPO agent on CartPole-v1 for a short while (8,192 steps with `course_lib.algos.ppo`'s default
#    settings, but $\epsilon$ fixed at 0.2 rather than annealed), so the policy is decent but far from perfect.
# 2. With that policy, collect **one** batch: 8 environments × 64 steps. Compute GAE advantages with its critic
#    (the same $\gamma$ and $\lambda$ it was trained with) and normalise them over the batch.
# 3. Copy the policy twice. Optimise one copy with the plain surrogate $-L^{CPI}$, the other with $-L^{CLIP}$
#    ($\epsilon = 0.2$), for 30 epochs of 4 shuffled minibatches each, Adam with learning rate $10^{-3}$ (PPO's
#    usual is 3 to 10 epochs; we go far beyond on purpose). Only the actor changes; the batch never does.
# 4. After every epoch, on the batch: the ratios, the exact mean $\mathrm{KL}(\pi_{old}\,\|\,\pi_\theta)$ over its
#    states (CartPole has two actions, so the KL is computed exactly from both distributions), the clip fraction,
#    and the surrogate value $\hat{\mathbb{E}}[r_t \hat A_t]$ the optimiser is chasing. At selected epochs, the
#    policy's **evaluated return**: the stochastic policy (the one the surrogate is about) on 10 fresh episodes,
#    with the same episode seeds and sampling seed for both copies.
#
# The first cell trains the six starting policies (one of the two slow cells of the notebook).

# %%
PRETRAIN_STEPS = 8_192
# course_lib's CartPole defaults, with eps kept fixed instead of annealed
pretrain_config = ppo.PPOConfig(anneal_clip=False)
pretrained: dict[int, ActorCriticAgent] = {}
pretrain_histories = {}
for seed in tqdm(SEEDS, desc="pre-training PPO (one run per seed)"):
    pretrained[seed], pretrain_histories[seed] = ppo.train(pretrain_config, seed=seed, total_steps=PRETRAIN_STEPS,
                                                           progress=False)
print(f"gamma = {pretrain_config.gamma}, lam = {pretrain_config.lam} (used for the batch's GAE below)")
for seed, hist in pretrain_histories.items():
    print(f"seed {seed}: mean return of the last 20 training episodes = {hist.recent_return_mean():.1f}")

# %% [markdown]
# The experiment itself: one function collects the batch, one optimises a copy of the policy on it and records
# what happens after every epoch.

# %%
NUM_ENVS, NUM_STEPS = 8, 64
EPOCHS, NUM_MINIBATCHES, LEARNING_RATE, CLIP_EPS = 30, 4, 1e-3, 0.2
EVAL_EPOCHS = (0, 1, 2, 3, 5, 10, 15, 20, 30)
EVAL_EPISODES, EVAL_SEED = 10, 10_000


def collect_batch(agent, seed: int) -> FlatBatch:
    """One batch of NUM_ENVS x NUM_STEPS CartPole steps from `agent`; adv = GAE advantages normalised over the batch.

    Returns a FlatBatch of the valid steps: obs (B, 4), actions (B,), logp (B,) = logp_old, adv (B,), ret (B,).
    """
    torch.manual_seed(seed)
    envs = make_vec_env("CartPole-v1", NUM_ENVS, seed=1_000 + seed)
    try:
        rollout = RolloutCollector(envs, agent.policy_step, NUM_STEPS).collect()
    finally:
        envs.close()
    est = advantages_and_returns(rollout, pretrain_config)
    batch = rollout.flat(est.advantages, est.returns)
    # A <- (A - mean A) / std A, once for the whole batch (both objectives see the same advantages)
    batch.adv = normalise_advantages(batch.adv)
    return batch


@dataclass
class EpochRecord:
    """What one optimisation run did to the policy, epoch by epoch (index 0 = before any step).

    ratios: per epoch, the (B,) ratios pi_theta / pi_old on the batch. kl: exact mean KL(pi_old || pi_theta) over
    the batch's states. kl_k3: its k3 estimate from the sampled actions. clip_fraction: share of |r - 1| > CLIP_EPS.
    surrogate: mean(r A). returns: evaluated return at each epoch of EVAL_EPOCHS.
    """

    ratios: list[np.ndarray] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    kl_k3: list[float] = field(default_factory=list)
    clip_fraction: list[float] = field(default_factory=list)
    surrogate: list[float] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)


def optimise_on_batch(agent, batch: FlatBatch, objective: str, seed: int, epochs: int = EPOCHS,
                      clip_eps: float = CLIP_EPS, eval_epochs=EVAL_EPOCHS) -> EpochRecord:
    """Optimise a copy of `agent`'s actor on `batch` for `epochs` epochs with objective "plain" or "clip"."""
    policy = copy.deepcopy(agent)
    optimizer = torch.optim.Adam(policy.actor.parameters(), lr=LEARNING_RATE, eps=1e-5)
    shuffler = torch.Generator().manual_seed(seed)  # minibatch order: independent of the evaluation's sampling
    with torch.no_grad():
        dist_old = policy.distribution(batch.obs)
    record = EpochRecord()
    for epoch in range(epochs + 1):
        if epoch > 0:
            for idx in torch.randperm(len(batch), generator=shuffler).chunk(NUM_MINIBATCHES):
                mb = batch.select(idx)
                logp = policy.actor.log_prob(policy.distribution(mb.obs), mb.actions)
                if objective == "clip":
                    loss = ppo_clip_loss(logp, mb.logp_old, mb.adv, clip_eps)[0]
                else:
                    loss = plain_surrogate_loss(logp, mb.logp_old, mb.adv)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            dist = policy.distribution(batch.obs)
            logp = policy.actor.log_prob(dist, batch.actions)
            ratio = torch.exp(logp - batch.logp_old)
            record.ratios.append(ratio.numpy().copy())
            record.kl.append(kl_exact(dist_old, dist).mean().item())
            record.kl_k3.append(kl_k3(batch.logp_old, logp).mean().item())
            record.clip_fraction.append(((ratio - 1).abs() > clip_eps).float().mean().item())
            record.surrogate.append((ratio * batch.adv).mean().item())
        if epoch in eval_epochs:
            torch.manual_seed(EVAL_SEED)  # the same action-sampling stream for every policy evaluated
            result = evaluate(policy, "CartPole-v1", n_episodes=EVAL_EPISODES, deterministic=False, seed=EVAL_SEED)
            record.returns.append(result.mean)
    return record


# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Set-up: 8,192 pre-training steps with the library's defaults but a fixed eps = 0.2; one batch of 8 "
      "environments x 64 steps; 30 epochs of 4 shuffled minibatches each, Adam with learning rate 1e-3; "
      "10 evaluation episodes",
      bool(PRETRAIN_STEPS == 8_192 and not pretrain_config.anneal_clip and pretrain_config.clip_eps == CLIP_EPS == 0.2
           and (NUM_ENVS, NUM_STEPS, EPOCHS, NUM_MINIBATCHES, LEARNING_RATE, EVAL_EPISODES) == (8, 64, 30, 4, 1e-3, 10)
           and len(SEEDS) == 6),
      f"{PRETRAIN_STEPS} steps, anneal_clip={pretrain_config.anneal_clip}, eps {CLIP_EPS}, {NUM_ENVS} x {NUM_STEPS}, "
      f"{EPOCHS} epochs x {NUM_MINIBATCHES} minibatches, lr {LEARNING_RATE}, {EVAL_EPISODES} episodes, {len(SEEDS)} seeds")

# %%
batches: dict[int, FlatBatch] = {}
runs: dict[str, dict[int, EpochRecord]] = {"plain": {}, "clip": {}}
for seed in tqdm(SEEDS, desc="one batch per seed, both objectives"):
    batches[seed] = collect_batch(pretrained[seed], seed)
    for objective in runs:
        runs[objective][seed] = optimise_on_batch(pretrained[seed], batches[seed], objective, seed)
print("batch sizes (valid steps):", {seed: len(b) for seed, b in batches.items()})

# %%
LABELS = {"plain": "plain surrogate $L^{CPI}$", "clip": r"clipped $L^{CLIP}$, $\epsilon=0.2$"}
COLORS = {"plain": plots.PALETTE[3], "clip": plots.PALETTE[0]}
epoch_axis = np.arange(EPOCHS + 1)
fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
panels = [
    ("surrogate", "surrogate value mean(r A) on the batch", "linear", epoch_axis),
    ("kl", r"exact KL$(\pi_{old}\,\|\,\pi_\theta)$ (log scale)", "log", epoch_axis[1:]),
    ("clip_fraction", r"share of ratios outside $[1-\epsilon, 1+\epsilon]$", "linear", epoch_axis),
    ("returns", "change in evaluated return since epoch 0", "linear", np.array(EVAL_EPOCHS)),
]
for ax, (name, title, scale, xs) in zip(axes.flat, panels):
    for objective, by_seed in runs.items():
        curves = []
        for record in by_seed.values():
            ys = np.asarray(getattr(record, name))
            if name == "returns":
                ys = ys - ys[0]  # each seed starts from a different policy: compare changes
            curves.append((xs, ys[-len(xs):]))
        plots.plot_seeds(ax, curves, LABELS[objective], color=COLORS[objective], band="ci")
    ax.set_yscale(scale)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("epochs on the same batch")
axes[0, 1].axhspan(0.01, 0.02, color="grey", alpha=0.15)
axes[0, 0].legend(fontsize=8)
fig.suptitle(f"One CartPole batch optimised for {EPOCHS} epochs "
             f"(line: mean over {len(SEEDS)} seeds; band: its 95% bootstrap CI over the {len(SEEDS)} seeds)")
plt.tight_layout()
plots.show(fig, alt=f"One CartPole batch optimised for {EPOCHS} epochs with each objective, four diagnostics "
                    f"against epochs: mean and 95% bootstrap band over {len(SEEDS)} seeds.")

# %% [markdown]
# The ratio distributions behind the bottom-left panel, pooled over the six seeds, after 1, 5 and 30 epochs.
# (Explorer 2 in section 5 steps through every epoch and seed.)

# %%
def ratio_histogram(ax, ratios: dict[str, np.ndarray], title: str) -> None:
    """Overlayed histograms of log r, one per objective; log-ratios beyond +-3 are piled into the end bins."""
    bins = np.linspace(-3, 3, 61)
    for objective, r in ratios.items():
        ax.hist(np.clip(np.log(r), -3, 3), bins=bins, alpha=0.5, color=COLORS[objective], label=LABELS[objective])
    for edge in (np.log(1 - CLIP_EPS), np.log(1 + CLIP_EPS)):
        ax.axvline(edge, color="black", lw=0.8, ls="--")
    ax.set_xlabel(r"$\log r$  (dashed: $\log(1 \pm \epsilon)$)")
    ax.set_title(title, fontsize=10)


fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), sharey=True)
for ax, epoch in zip(axes, (1, 5, EPOCHS)):
    pooled = {obj: np.concatenate([rec.ratios[epoch] for rec in runs[obj].values()]) for obj in runs}
    ratio_histogram(ax, pooled, f"after {epoch} epoch{'s' if epoch > 1 else ''} ({len(SEEDS)} seeds pooled)")
axes[0].set_ylabel("samples")
axes[0].legend(fontsize=8)
plt.tight_layout()
plots.show(fig, alt=f"Histograms of the log probability ratio on the batch after 1, 5 and {EPOCHS} epochs for "
                    "each objective, with dashed lines at log(1 - epsilon) and log(1 + epsilon).")

# %% [markdown]
# The numbers behind the figure: each entry is the mean over the six seeds followed by its 95 % bootstrap
# confidence interval in brackets (`course_lib.stats.bootstrap_ci`, 10,000 resamples of the seeds).

# %%
def ci_text(values, digits: int = 3) -> str:
    """'mean [low, high]': the mean over seeds and its 95% percentile-bootstrap CI, with `digits` decimals."""
    ci = bootstrap_ci(np.asarray(values, dtype=float))
    return f"{ci.estimate:.{digits}f} [{ci.low:.{digits}f}, {ci.high:.{digits}f}]"


def per_seed(objective: str, name: str) -> np.ndarray:
    """(seeds, epochs + 1) array of one recorded quantity; name "max_dev" is the largest |r - 1| per epoch."""
    recs = runs[objective].values()
    if name == "max_dev":
        return np.array([[np.abs(r - 1).max() for r in rec.ratios] for rec in recs])
    return np.array([getattr(rec, name) for rec in recs], dtype=float)


surr, kl_on_batch, outside, max_dev, evaluated = (
    {obj: per_seed(obj, name) for obj in runs} for name in ("surrogate", "kl", "clip_fraction", "max_dev", "returns"))
for epoch in (3, 10, EPOCHS):
    print(f"after {epoch:2d} epochs")
    for objective in runs:
        print(f"  {objective:5s}  KL {ci_text(kl_on_batch[objective][:, epoch])}   "
              f"outside band {ci_text(outside[objective][:, epoch], 2)}   "
              f"max |r - 1| {ci_text(max_dev[objective][:, epoch], 2)}")
for objective in runs:
    k3 = [r.kl_k3[EPOCHS] for r in runs[objective].values()]
    print(f"  {objective:5s} after {EPOCHS} epochs: exact KL {ci_text(kl_on_batch[objective][:, EPOCHS])},\n"
          f"        k3 estimate from the batch's own actions {ci_text(k3)}")
print("\nevaluated return per seed: start -> after 5 epochs -> after 30 epochs (best on the way)")
i5 = EVAL_EPOCHS.index(5)
for objective in runs:
    for seed, ret in zip(SEEDS, evaluated[objective]):
        print(f"  {objective:5s} seed {seed}: {ret[0]:6.1f} -> {ret[i5]:6.1f} -> {ret[-1]:6.1f}   (best {max(ret):6.1f})")

change = {obj: evaluated[obj][:, -1] - evaluated[obj][:, 0] for obj in runs}  # return change after EPOCHS epochs
kl_ci = {obj: bootstrap_ci(kl_on_batch[obj][:, EPOCHS]) for obj in runs}
out_ci = {obj: bootstrap_ci(outside[obj][:, EPOCHS]) for obj in runs}
move_ci = {obj: bootstrap_ci(np.abs(change[obj])) for obj in runs}  # how far the return moved, either way
kl_factor = kl_ci["plain"].estimate / kl_ci["clip"].estimate
move_overlap = move_ci["clip"].high >= move_ci["plain"].low
n_gained, n_lost = int(np.sum(change["plain"] > 0)), int(np.sum(change["plain"] < 0))
display(Markdown(
    f"**After {EPOCHS} epochs** ({len(SEEDS)} seeds, mean and 95 % bootstrap CI): the exact KL is "
    f"{ci_text(kl_on_batch['plain'][:, EPOCHS])} for the plain surrogate and "
    f"{ci_text(kl_on_batch['clip'][:, EPOCHS])} with clipping, a factor of **{kl_factor:.0f}**; the share of ratios "
    f"outside the band is {ci_text(outside['plain'][:, EPOCHS], 2)} against {ci_text(outside['clip'][:, EPOCHS], 2)}. "
    f"The evaluated return moved (up or down, the mean of |change|) by {ci_text(np.abs(change['plain']), 0)} for "
    f"the plain copies and {ci_text(np.abs(change['clip']), 0)} for the clipped ones: the two intervals "
    f"{'overlap, so with this many seeds that difference is suggestive, not established' if move_overlap else 'do not overlap'}. "
    f"Of the plain copies, {n_gained} gained return and {n_lost} lost some."))

# %% tags=["claim"] jupyter={"source_hidden": true}
start_returns = evaluated["clip"][:, 0]  # epoch 0: the pre-trained policy, the same for both objectives
claim("the policy is decent but far from perfect (evaluated return at epoch 0 well above a random policy's ~22, "
      "below 500)",
      bool(start_returns.min() > 50 and start_returns.max() < 450), f"returns at epoch 0: {start_returns.round(1)}")
claim("The plain surrogate keeps climbing",
      bool(np.all(surr["plain"][:, EPOCHS] > surr["plain"][:, 10]) and np.all(surr["plain"][:, 10] > surr["plain"][:, 3])),
      f"per seed after 3 / 10 / {EPOCHS} epochs: {surr['plain'][:, [3, 10, EPOCHS]].round(3).tolist()}")
late_gain = {obj: surr[obj][:, EPOCHS] - surr[obj][:, 10] for obj in runs}
claim("The clipped one levels off",
      bool(late_gain["clip"].mean() < 0.25 * late_gain["plain"].mean()),
      f"mean gain of the surrogate from epoch 10 to {EPOCHS}: clipped {late_gain['clip'].mean():.4f}, "
      f"plain {late_gain['plain'].mean():.4f}")
claim("the plain update's KL from the old policy keeps growing",
      bool(np.all(kl_on_batch["plain"][:, EPOCHS] > kl_on_batch["plain"][:, 10])
           and np.all(kl_on_batch["plain"][:, 10] > kl_on_batch["plain"][:, 3])),
      f"per seed after 3 / 10 / {EPOCHS} epochs: {kl_on_batch['plain'][:, [3, 10, EPOCHS]].round(3).tolist()}")
claim("the plain update's KL ends far above the clipped one (factor above 10, 95% CIs apart)",
      bool(kl_factor > 10 and kl_ci["plain"].low > kl_ci["clip"].high),
      f"factor {kl_factor:.0f}; CIs plain [{kl_ci['plain'].low:.3f}, {kl_ci['plain'].high:.3f}], "
      f"clip [{kl_ci['clip'].low:.4f}, {kl_ci['clip'].high:.4f}]")
claim("with the plain surrogate most ratios end up outside the band",
      bool(out_ci["plain"].low > 0.5), f"share outside after {EPOCHS} epochs, 95% CI [{out_ci['plain'].low:.2f}, "
      f"{out_ci['plain'].high:.2f}]")
claim("With clipping the share outside stays much lower, but not zero",
      bool(out_ci["clip"].high < out_ci["plain"].low and outside["clip"][:, EPOCHS].min() > 0),
      f"clip CI [{out_ci['clip'].low:.2f}, {out_ci['clip'].high:.2f}] vs plain CI [{out_ci['plain'].low:.2f}, "
      f"{out_ci['plain'].high:.2f}]; smallest clipped share {outside['clip'][:, EPOCHS].min():.3f}")
claim("the largest |r - 1| is above eps for the clipped runs as well",
      bool(np.all(max_dev["clip"][:, EPOCHS] > CLIP_EPS)),
      f"largest |r - 1| per clipped seed after {EPOCHS} epochs: {max_dev['clip'][:, EPOCHS].round(2)}")
claim("the clipped copies' returns moved less, on average, than the plain copies'",
      bool(move_ci["clip"].estimate < move_ci["plain"].estimate),
      f"mean |change| clip {move_ci['clip'].estimate:.1f}, plain {move_ci['plain'].estimate:.1f}")
claim("some plain seeds gained return and others lost",
      bool(n_gained >= 1 and n_lost >= 1), f"plain changes {change['plain'].round(1)}")
claim("the surrogate rose on every plain seed while the evaluated return fell on some of them",
      bool(np.all(surr["plain"][:, EPOCHS] > 0) and n_lost >= 1),
      f"surrogate after {EPOCHS} epochs {surr['plain'][:, EPOCHS].round(3)}, return changes {change['plain'].round(1)}")

# %% [markdown]
# **What the figure and the tables show.**
#
# - *Top left:* both optimisers do what they are told. The plain surrogate keeps climbing: on every seed it is
#   higher after 30 epochs than after 10, and higher after 10 than after 3; as far as the batch can tell, every
#   epoch is an improvement. The clipped one levels off: from epoch 10 on it barely moves, because a sample whose
#   ratio is past the band on the profitable side earns nothing more.
# - *Top right (log scale):* the plain update's KL from the old policy keeps growing, and ends far above the
#   clipped one (the summary above gives the factor and both confidence intervals). The grey band marks 0.01 to
#   0.02, a KL per update that PPO implementations commonly aim for.
# - *Bottom left:* with the plain surrogate most ratios end up outside the band. With clipping the share outside
#   stays much lower, but **not zero**, and the largest $|r-1|$ is above $\epsilon$ for the clipped runs as well:
#   clipping removes the *incentive* to move further, it does not *forbid* it (the network's parameters are
#   shared across states, so the steps taken for some samples move the others too). Notebook 05 picks this up
#   (see the box below).
# - *Bottom right:* the change in evaluated return since epoch 0 (each seed starts from its own policy). The
#   surrogate is a reliable guide only near the old policy; once the plain update has left that region, what
#   happens to the real return is no longer steered by the batch: some plain seeds gained return and others lost
#   (the summary counts them). The clipped copies' returns moved less, on average, than the plain copies'; the
#   summary says whether six seeds are enough for the two confidence intervals to separate.
#
# The surrogate value (top left) is the number the optimiser sees; the return (bottom right) is the number we
# care about. The surrogate rose on every plain seed while the evaluated return fell on some of them: that
# disagreement, far from $\theta_{old}$, is the whole reason for a trust region.
#
# > **Common misconception.** "PPO needs no KL constraint: the clip does the job."
# > Clipping removes the *incentive* to push a ratio past $1 \pm \epsilon$, but it does not bound the ratio or
# > the KL. The evidence is in this experiment: under clipping a share of the ratios still ends outside the band
# > (bottom-left panel, and the summary above), and the largest $|r - 1|$ exceeds $\epsilon$ on every seed. That
# > is why PPO implementations log an approximate KL and stop an update early when it grows too large
# > (notebook 05).

# %% [markdown]
# ### Entropy, measured: a policy that stops exploring too early
#
# Every run so far optimised the clipped surrogate with no entropy term. The full PPO objective (Schulman et al.
# 2017, eq. 9) adds a value-function term and an **entropy bonus**; written as the loss that is minimised,
# $$\text{loss} = -L^{CLIP} + c_1 L^{VF} - c_2\,\hat{\mathbb{E}}_t\big[H[\pi_\theta](s_t)\big], \qquad
# H[\pi](s) = -\sum_a \pi(a|s)\log\pi(a|s).$$
# The entropy $H$ (in nats) is 0 for a policy that always picks the same action and largest for the uniform
# policy, where it equals $\log|A|$. Because the loss *subtracts* $c_2 H$, minimising it pays the policy for
# staying uncertain: with $c_2 > 0$ each update has a reason not to make the policy deterministic.
# `course_lib` calls $c_2$ `ent_coef`; every run above used 0, the library's default.
#
# That matters when a policy can settle for something good enough before it has seen something better.
# `course_lib.deceptive_env.DeceptiveCorridor` is built that way. The agent starts at a door (position 0 of a
# corridor of 6) and sees its position. **Stop** at the door picks up a coin (reward 0.3) and ends the episode;
# **go** moves one step down the corridor. Stopping further down ends the episode with nothing; going on from
# the last position reaches a treasure (reward 1). A policy that tosses a fair coin at every position reaches
# the treasure once in $2^6 = 64$ episodes, so while the policy is still close to uniform, going looks worse than
# stopping at the door; only a policy that keeps going often enough to learn the later positions finds out what
# the corridor is worth. The next cell computes these numbers exactly from the environment's definition.

# %%
corridor = DeceptiveCorridor()
N_ACTIONS = int(corridor.action_space.n)
H_MAX = max_entropy(N_ACTIONS)  # log |A|, the entropy of the uniform policy
ENT_BASE = ppo.PPOConfig(env_id=DECEPTIVE_CORRIDOR_ID, update_epochs=4)
uniform = torch.full((N_ACTIONS,), 1.0 / N_ACTIONS)
# Q(door, go) under the uniform policy: the treasure needs L - 1 more goes, each with probability 1/2
q_go_uniform = ENT_BASE.gamma ** (corridor.length - 1) * 0.5 ** (corridor.length - 1) * corridor.treasure
fixed_policies = {"always stop": np.zeros(corridor.length), "uniform": np.full(corridor.length, 0.5),
                  "always go": np.ones(corridor.length)}
print(f"corridor of {corridor.length} positions, coin {corridor.coin:g}, treasure {corridor.treasure:g}")
for name, p_go in fixed_policies.items():
    print(f"  return of '{name}': {expected_return(p_go, corridor.coin, corridor.treasure):.4f}")
print(f"uniform policy: P(treasure) = 1/{1 / success_probability(fixed_policies['uniform']):.0f}; at the door, "
      f"going is worth {q_go_uniform:.4f} (gamma = {ENT_BASE.gamma}),\n  stopping {corridor.coin:g}")
print(f"maximum entropy log|A| = log {N_ACTIONS} = {H_MAX:.4f} nats; entropy of the uniform policy "
      f"{categorical_entropy(uniform).item():.4f}")

# %% [markdown]
# **Set-up.** PPO from `course_lib.algos.ppo` with the library's defaults (8 environments × 32 steps per
# update, learning rate and clip range annealed, networks of two hidden layers of 64), except 4 epochs per
# update instead of 10 (to keep the cell short), for 8,192 steps (32 updates). Four entropy coefficients,
# $c_2 \in \{0, 0.1, 0.5, 3\}$, six seeds each. At the end we read $\pi(\text{go}\mid k)$ at every position
# $k$ from the network and compute the **exact** expected return of the final stochastic policy (no
# evaluation noise: `expected_return`). A run *reaches the treasure* when its greedy policy (the likelier action
# at every position) goes all the way. The entropy curve is the `entropy` column of the training History: the
# mean entropy of the policy on each update's batch, averaged over the update's minibatch steps.

# %%
ENT_COEFS = (0.0, 0.1, 0.5, 3.0)
ENT_STEPS = 8_192
positions = torch.eye(corridor.length)  # one observation per position, (L, L)
ent_runs: dict[float, list] = {c2: [] for c2 in ENT_COEFS}  # c2 -> per seed (History, pi(go | position))
with tqdm(total=len(ENT_COEFS) * len(SEEDS), desc="PPO on the corridor, per ent_coef and seed") as bar:
    for c2 in ENT_COEFS:
        for seed in SEEDS:
            config = ppo.PPOConfig(env_id=DECEPTIVE_CORRIDOR_ID, update_epochs=ENT_BASE.update_epochs,
                                   ent_coef=c2)
            agent, history = ppo.train(config, seed=seed, total_steps=ENT_STEPS, progress=False)
            with torch.no_grad():
                p_go = agent.distribution(positions).probs[:, GO].numpy()
            ent_runs[c2].append((history, p_go))
            bar.update()


def ent_column(c2: float, name: str) -> np.ndarray:
    """(seeds, updates) array of one History column for the runs with ent_coef c2."""
    return np.array([history.column(name) for history, _ in ent_runs[c2]])


final_return = {c2: np.array([expected_return(p, corridor.coin, corridor.treasure) for _, p in ent_runs[c2]])
                for c2 in ENT_COEFS}  # exact expected return of each final stochastic policy
reached = {c2: np.array([bool(np.all(p > 0.5)) for _, p in ent_runs[c2]]) for c2 in ENT_COEFS}
entropy = {c2: ent_column(c2, "entropy") for c2 in ENT_COEFS}
return_ci = {c2: bootstrap_ci(final_return[c2]) for c2 in ENT_COEFS}
n_updates = entropy[0.0].shape[1]
MARKS = (1, 5, 10, n_updates)  # updates at which entropy is reported (1-based)
print(f"{n_updates} updates of {ENT_BASE.num_envs} x {ENT_BASE.num_steps} steps per run; "
      f"{len(SEEDS)} seeds per ent_coef")
print("ent_coef | greedy reaches treasure | final return, mean [95% CI] | "
      "entropy at update " + ", ".join(map(str, MARKS)))
for c2 in ENT_COEFS:
    marks = ", ".join(f"{entropy[c2][:, k - 1].mean():.3f}" for k in MARKS)
    print(f"{c2:8g} | {reached[c2].sum()} of {len(SEEDS)} seeds{'':12s}| {ci_text(final_return[c2], 2):27s} | {marks}")
coin_seeds = [p for (_, p), hit in zip(ent_runs[0.0], reached[0.0]) if not hit]
p_treasure_coin = np.array([success_probability(p) for p in coin_seeds])
print(f"c2 = 0, seeds that settled for the coin: P(treasure) under the final policy\n  "
      f"{', '.join(f'{v:.1e}' for v in p_treasure_coin)}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("A policy that tosses a fair coin at every position reaches the treasure once in 2^6 = 64 episodes, so while "
      "the policy is still close to uniform, going looks worse than stopping at the door",
      bool(corridor.length == 6 and np.isclose(success_probability(fixed_policies["uniform"]), 1 / 64)
           and q_go_uniform < corridor.coin),
      f"P = {success_probability(fixed_policies['uniform'])}, Q(door, go) = {q_go_uniform:.4f} < coin {corridor.coin}")
claim("Set-up: 8 environments x 32 steps per update, 4 epochs, 8,192 steps (32 updates); c2 in {0, 0.1, 0.5, 3}, "
      "six seeds each",
      bool((ENT_BASE.num_envs, ENT_BASE.num_steps, ENT_BASE.update_epochs, ENT_STEPS, n_updates) == (8, 32, 4, 8192, 32)
           and ENT_COEFS == (0.0, 0.1, 0.5, 3.0) and len(SEEDS) == 6 and ENT_BASE.hidden == (64, 64)),
      f"{ENT_BASE.num_envs} x {ENT_BASE.num_steps}, {ENT_BASE.update_epochs} epochs, {ENT_STEPS} steps, "
      f"{n_updates} updates, coefficients {ENT_COEFS}, {len(SEEDS)} seeds")

# %%
fig, (ax_h, ax_r) = plt.subplots(1, 2, figsize=(11, 3.6))
update_axis = np.arange(1, n_updates + 1)
for i, c2 in enumerate(ENT_COEFS):
    plots.plot_seeds(ax_h, [(update_axis, h) for h in entropy[c2]], f"$c_2$ = {c2:g}", color=plots.PALETTE[i])
ax_h.axhline(H_MAX, color="black", ls="--", lw=0.8, label=r"$\log|A| = \log 2$")
ax_h.set_xlabel("update")
ax_h.set_ylabel("mean entropy on the batch (nats)")
ax_h.set_title("Policy entropy per update", fontsize=10)
ax_h.legend(fontsize=7)
xs = np.arange(len(ENT_COEFS))
means = np.array([return_ci[c2].estimate for c2 in ENT_COEFS])
errors = np.array([[return_ci[c2].estimate - return_ci[c2].low, return_ci[c2].high - return_ci[c2].estimate]
                   for c2 in ENT_COEFS]).T
ax_r.errorbar(xs, means, yerr=errors, fmt="o", capsize=6, color=plots.PALETTE[0], label="mean, 95% bootstrap CI")
for i, c2 in enumerate(ENT_COEFS):
    ax_r.plot(np.full(len(SEEDS), xs[i]) + np.linspace(-0.15, 0.15, len(SEEDS)), final_return[c2], ".",
              color="grey", alpha=0.7, label="one seed" if i == 0 else None)
    ax_r.annotate(f"{reached[c2].sum()}/{len(SEEDS)} reach the treasure", (xs[i], 1.08), ha="center", fontsize=7)
ax_r.axhline(corridor.coin, color=plots.PALETTE[3], ls=":", lw=1, label="coin only")
ax_r.axhline(corridor.treasure, color=plots.PALETTE[2], ls=":", lw=1, label="treasure every time")
ax_r.set_xticks(xs, [f"{c2:g}" for c2 in ENT_COEFS])
ax_r.set_xlabel(r"entropy coefficient $c_2$ (ent_coef)")
ax_r.set_ylabel("expected return of the final policy")
ax_r.set_ylim(0, 1.15)
ax_r.set_title("Final return per entropy coefficient", fontsize=10)
ax_r.legend(fontsize=7, loc="center right")
plt.tight_layout()
plots.show(fig, alt=f"Left: mean policy entropy per update on the deceptive corridor for entropy coefficients "
                    f"{', '.join(f'{c:g}' for c in ENT_COEFS)}, with 95% bootstrap bands over {len(SEEDS)} "
                    "seeds and a dashed line at log 2. Right: the expected return of each final policy against "
                    "the entropy coefficient, mean with 95% bootstrap CI, one dot per seed, dotted lines at the "
                    "coin's and the treasure's value.")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Without the bonus (c2 = 0) the entropy collapses: it falls to a few percent of log 2 within 10 updates",
      bool(entropy[0.0][:, 9].mean() < 0.1 * H_MAX),
      f"mean entropy at update 10 {entropy[0.0][:, 9].mean():.3f} nats, log 2 = {H_MAX:.3f}")
claim("and most seeds settle for the coin",
      bool(reached[0.0].sum() < len(SEEDS) / 2 and np.all(final_return[0.0][~reached[0.0]] < 0.35)),
      f"{reached[0.0].sum()} of {len(SEEDS)} reach the treasure; final returns {final_return[0.0].round(3)}")
claim("Their final policies stop at the door almost surely and reach the treasure with a probability below 1 in "
      "100", bool(len(p_treasure_coin) > 0 and p_treasure_coin.max() < 1e-2),
      f"P(treasure) of the seeds that settled for the coin: {p_treasure_coin}")
claim("A small bonus (c2 = 0.1) slows the collapse a little, but not enough: at update 10 its entropy is still "
      "below a fifth of log 2, and half of the seeds or fewer reach the treasure",
      bool(entropy[0.0][:, 9].mean() < entropy[0.1][:, 9].mean() < 0.2 * H_MAX
           and reached[0.1].sum() <= len(SEEDS) / 2),
      f"entropy at update 10: c2 = 0 {entropy[0.0][:, 9].mean():.3f}, c2 = 0.1 {entropy[0.1][:, 9].mean():.3f}; "
      f"{reached[0.1].sum()} of {len(SEEDS)} reach")
claim("A moderate bonus (c2 = 0.5): every seed reached the treasure",
      bool(reached[0.5].all()), f"reached per seed {reached[0.5]}")
claim("Its entropy declines slowly, still above a third of log 2 after 5 updates and above a quarter after 10, "
      "and ends low",
      bool(entropy[0.5][:, 4].mean() > H_MAX / 3 and entropy[0.5][:, 9].mean() > H_MAX / 4
           and entropy[0.5][:, -1].mean() < 0.1 * H_MAX),
      f"mean entropy at updates 5, 10, {n_updates}: {entropy[0.5][:, [4, 9, -1]].mean(0).round(3)}")
claim("Its final return's confidence interval lies above those of c2 = 0 and c2 = 3",
      bool(return_ci[0.5].low > max(return_ci[0.0].high, return_ci[3.0].high)),
      "; ".join(f"c2 {c2:g}: [{return_ci[c2].low:.3f}, {return_ci[c2].high:.3f}]" for c2 in ENT_COEFS))
uniform_return = expected_return(fixed_policies["uniform"], corridor.coin, corridor.treasure)
claim("Too large (c2 = 3) never commits: its entropy stays within 10 % of log 2 for the whole run and its return "
      "sits near the uniform policy's, below even the coin",
      bool(entropy[3.0].mean(0).min() > 0.9 * H_MAX and return_ci[3.0].high < corridor.coin
           and abs(return_ci[3.0].estimate - uniform_return) < 0.1),
      f"lowest mean entropy {entropy[3.0].mean(0).min():.3f} nats; return {return_ci[3.0].estimate:.3f}, "
      f"uniform policy {uniform_return:.3f}, coin {corridor.coin}")

# %% [markdown]
# **What the runs show.**
#
# - *Without the bonus* ($c_2 = 0$) the entropy collapses: it falls to a few percent of $\log 2$ within 10
#   updates, and most seeds settle for the coin. Their final policies stop at the door almost surely and reach
#   the treasure with a probability below 1 in 100, so the episodes that could change their mind are no longer
#   sampled: nothing in later batches points to the treasure.
# - *A small bonus* ($c_2 = 0.1$) slows the collapse a little, but not enough: at update 10 its entropy is still
#   below a fifth of $\log 2$, and half of the seeds or fewer reach the treasure.
# - *A moderate bonus* ($c_2 = 0.5$): every seed reached the treasure. Its entropy declines slowly, still above
#   a third of $\log 2$ after 5 updates and above a quarter after 10, and ends low: the policy commits once it
#   has found the treasure. Its final return's confidence interval lies above those of $c_2 = 0$ and $c_2 = 3$.
# - *Too large* ($c_2 = 3$) never commits: its entropy stays within 10 % of $\log 2$ for the whole run and its
#   return sits near the uniform policy's, below even the coin. The bonus outweighs what the advantages ask for,
#   so the policy hardly leaves the uniform one.
#
# So $c_2$ has a useful range, and it is not universal: the bonus competes with the advantages (normalised per
# minibatch to standard deviation 1 here), and how much exploration pays depends on the task. The PPO paper used
# $c_2 = 0.01$ on Atari and no entropy term on MuJoCo (Schulman et al. 2017); a deceptive task like this one
# needs much more. Six seeds give wide intervals for $c_2 = 0$ and $0.1$, whose runs split between the two
# outcomes; the share of seeds that reach the treasure is the clearer measure there.

# %% [markdown]
# ## 5. Explore
#
# **Explorer 1: the clipped objective.** Move $\epsilon$, the advantage $\hat A$ and a ratio $r$. The top plot is
# one term of $L^{CLIP}$ against the plain $r\hat A$; the bottom plot is its slope, shaded where it is zero. The
# line underneath says what the sample at your $r$ contributes. (Closed forms only: every move is instant.)

# %%
def explore_clip(clip_eps: float = 0.2, adv: float = 1.0, ratio: float = 1.3) -> None:
    """Redraw the clipped-objective figure for one (eps, A) and describe the sample at `ratio`."""
    fig, axes = plt.subplots(2, 1, figsize=(6.5, 4.6), sharex=True, height_ratios=(2, 1))
    draw_clip_figure(axes, adv, clip_eps, r_mark=ratio)
    plt.tight_layout()
    plots.show(fig, alt=f"Explorer view: one term of the clipped surrogate for advantage {adv:+.2f} and "
                        f"epsilon = {clip_eps:.2f}; top, the objective against the ratio r; bottom, its "
                        f"slope; the dot marks ratio {ratio:g}.")
    value = float(clip_term(np.array(ratio), adv, clip_eps))
    slope = float(clip_term_slope(np.array(ratio), adv, clip_eps))
    if slope == 0.0 and adv != 0.0:
        why = "zero gradient: the ratio is past the band on the side that helps, the clipped term is constant"
    elif adv == 0.0:
        why = "zero gradient: a zero advantage carries no signal"
    elif abs(ratio - 1) <= clip_eps:
        why = "inside the band: both terms agree, the usual ratio-weighted gradient flows"
    else:
        why = "past the band on the harmful side: the unclipped term counts in full and pulls the ratio back"
    print(f"L_clip term = {value:+.3f}, d/dr = {slope:+.3f}, d/dlogp = r * d/dr = {ratio * slope:+.3f}  ->  {why}")


widgets.interactive(
    explore_clip,
    clip_eps=widgets.FloatSlider(value=0.2, min=0.05, max=0.5, step=0.05, description="epsilon"),
    adv=widgets.FloatSlider(value=1.0, min=-2.0, max=2.0, step=0.25, description="advantage"),
    ratio=widgets.FloatSlider(value=1.3, min=0.1, max=2.0, step=0.05, description="ratio r"),
)

# %% [markdown]
# Things to try: set $\hat A < 0$ and move $r$ from 0.5 to 1.8, watching where the slope switches on. Set
# $\epsilon = 0.05$: the band almost vanishes, and the objective becomes flat almost immediately on the profitable
# side. Set $\hat A = 0$.
#
# **Explorer 2: the ratio histogram, epoch by epoch.** The recorded ratios of the central experiment (seed chosen
# in the drop-down), on a log scale so that halving and doubling look alike. Nothing is retrained here.

# %%
def explore_ratios(epoch: int = 5, seed: int = SEED) -> None:
    """Histograms of log-ratios on the batch after `epoch` epochs, plain vs clipped, for one seed."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ratio_histogram(ax, {obj: runs[obj][seed].ratios[epoch] for obj in runs},
                    f"Ratios on the batch after {epoch} epochs (seed {seed})")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    plots.show(fig, alt=f"Histograms of the log ratios on the batch after {epoch} epochs for seed {seed}, "
                        "plain against clipped objective, with dashed lines at log(1 - epsilon) and log(1 + "
                        "epsilon).")
    for objective in runs:
        record = runs[objective][seed]
        print(f"{objective:5s}: KL {record.kl[epoch]:.4f}, share outside the band {record.clip_fraction[epoch]:.2f}, "
              f"largest r {record.ratios[epoch].max():.2f}, smallest r {record.ratios[epoch].min():.3f}")


widgets.interactive(
    explore_ratios,
    epoch=widgets.IntSlider(value=5, min=0, max=EPOCHS, description="epoch"),
    seed=widgets.Dropdown(options=list(SEEDS), value=SEED, description="seed"),
)

# %% [markdown]
# ## 6. Check your understanding
#
# Pick an answer and press Submit; the feedback explains each choice. Your first attempts are scored.

# %%
quiz.show("04.clip_purpose")

# %%
quiz.show("04.min_pessimistic")

# %%
quiz.show("04.zero_gradient")

# %%
quiz.show("04.clipped_value")

# %%
quiz.show("04.clip_fraction")

# %%
quiz.show("04.first_step_ratio")

# %%
quiz.show("04.entropy_bonus_sign")

# %%
quiz.show("04.entropy_collapse")

# %% [markdown]
# **Graded answer cell.** If your course is graded, answers are read from cells like the one below (the first line
# names the question; the cell assigns `answer`). Replace `None` by your number and run the cell: `quiz.check`
# prints feedback. Left at `None`, `quiz.check` replies that no number was given and records no attempt, so the
# cell earns no points.

# %%
# QUIZ: 04.clipped_value
answer = None  # your number, e.g. 1.5
quiz.check("04.clipped_value", answer)

# %%
quiz.score("04")

# %% [markdown]
# ## 7. Debug the bug
#
# ### Exercise 04.clip_surrogate: the surrogate without clipping
#
# The function below is meant to return PPO's clipped surrogate loss, as its docstring says. As written it keeps
# paying for every change of a ratio, however far the ratio has already moved: the behaviour that (section 4)
# lets one batch drag the policy arbitrarily far. Make it do what the docstring says. The checker compares your
# loss *and its gradient* with a reference on random batches and on one sample per region of the figure in
# section 2, so a version whose value looks right but whose gradient is wrong in one of those regions does not
# pass (the autograd table in section 3 is worth re-reading).

# %%
# EXERCISE: 04.clip_surrogate
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

# %%
exercises.check("04.clip_surrogate", clipped_surrogate_loss);

# %% [markdown]
# A FAIL is expected at first: the function still has its bug, and the message says which case failed and how
# (expected against got), not how to fix it. Edit the cell above, run it, and run the check again. Stuck? Run
# `exercises.hint("04.clip_surrogate")` in a new cell for the next hint; there are several levels, from where to
# look to the fix itself. After at least one attempt, `exercises.solution("04.clip_surrogate")` shows a worked
# solution with an explanation.
#
# ### Exercise 04.ratio_direction: a ratio that pushes the wrong way
#
# This helper should return $r_t = \pi_\theta(a_t|s_t) / \pi_{\theta_{old}}(a_t|s_t)$ from log-probabilities. Its
# result is finite and close to 1 on the first epoch, so nothing crashes; but the surrogate built on it pushes
# every probability the wrong way. Find out why, and make it match the docstring. The checker also feeds it
# log-probabilities near $-150$ (a rare action), where the result must still be finite, and checks that the
# gradient still reaches `logp`.

# %%
# EXERCISE: 04.ratio_direction
import torch


def probability_ratio(logp, logp_old):
    """PPO's probability ratio r_t = pi_theta(a_t | s_t) / pi_theta_old(a_t | s_t).

    logp:     (B,) log-probabilities under the current policy; carries gradients
    logp_old: (B,) log-probabilities under the policy that collected the data (constants)
    returns:  (B,) ratios, differentiable w.r.t. logp; they must stay finite even when the
              log-probabilities are very negative (e.g. -150 for a rare action in a large action space)
    """
    return torch.exp(logp_old - logp)

# %%
exercises.check("04.ratio_direction", probability_ratio);

# %% [markdown]
# Again a FAIL is expected at first; it states the symptom, not the fix. Run `exercises.hint("04.ratio_direction")`
# in a new cell for the next hint (several levels, from where to look to the fix), and, after at least one
# attempt, `exercises.solution("04.ratio_direction")` for a worked solution with an explanation.

# %% [markdown]
# ### Exercise 04.entropy_sign: an entropy bonus that works against exploration
#
# The function below should assemble PPO's full loss from its three parts: the clipped surrogate's loss, the
# value loss weighted by $c_1$, and the entropy bonus weighted by $c_2$ (section 4, "Entropy, measured"). It
# runs and returns a scalar, and with a small $c_2$ a training run need not look broken; yet every step that
# minimises this loss also pushes the policy towards determinism, the opposite of what the bonus is for. Make
# the function do what its docstring says. The checker compares the loss and its gradients with a reference on random batches of categorical
# policies, and takes one gradient-descent step on each loss to see which way the policy's entropy moves.

# %%
# EXERCISE: 04.entropy_sign
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

# %%
exercises.check("04.entropy_sign", ppo_total_loss);

# %% [markdown]
# A FAIL is expected at first; it describes what your loss does to the policy, not the fix. Run
# `exercises.hint("04.entropy_sign")` in a new cell for the next hint (several levels, from where to look to
# the fix), and, after at least one attempt, `exercises.solution("04.entropy_sign")` for a worked solution with
# an explanation.

# %% [markdown]
# ## 8. In practice
#
# ### The diagnostics to watch, in a real PPO run
#
# The six pre-training runs of section 4 were ordinary PPO with the library's CartPole defaults (the table of
# hyper-parameters below lists them), except that $\epsilon$ stayed fixed. `course_lib` logs, for every update,
# the clip fraction and the k3 estimate of the KL, each averaged over the update's minibatch steps. The shaded
# bands are the ranges commonly quoted as healthy; the lines printed under the plot count how many updates fell
# below, inside and above them, and compare the first quarter of each run with its last.

# %%
HEALTHY = {"clip_fraction": (0.05, 0.2), "approx_kl": (0.01, 0.02)}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for ax, (column, band), title in zip(axes, HEALTHY.items(), ("clip fraction per update", "approx KL (k3) per update")):
    curves = [(h.column("env_steps"), h.column(column)) for h in pretrain_histories.values()]
    plots.plot_seeds(ax, curves, "PPO on CartPole", color=plots.PALETTE[0], band="ci")
    ax.axhspan(*band, color="grey", alpha=0.15, label="common rule-of-thumb range")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("env steps")
    ax.legend(fontsize=8)
plt.tight_layout()
plots.show(fig, alt="PPO's clip fraction (left) and approximate KL (right) per update during CartPole "
                    "training, each with a grey band at a common rule-of-thumb range.")
share_below, early_vs_late = {}, {}
for column, (low, high) in HEALTHY.items():
    values = np.concatenate([h.column(column) for h in pretrain_histories.values()])
    run_means = [float(np.mean(h.column(column))) for h in pretrain_histories.values()]
    share_below[column] = float(np.mean(values < low))
    # (seeds, 2): mean over each run's first quarter of updates and over its last quarter
    early_vs_late[column] = np.array([[np.mean(c[: len(c) // 4]), np.mean(c[-(len(c) // 4):])]
                                      for c in (h.column(column) for h in pretrain_histories.values())])
    print(f"{column}: mean per run {ci_text(run_means, 4)}\n"
          f"  updates below / inside / above [{low}, {high}]: {share_below[column]:.0%} / "
          f"{np.mean((values >= low) & (values <= high)):.0%} / {np.mean(values > high):.0%}\n"
          f"  first vs last quarter of the run {ci_text(early_vs_late[column][:, 0], 4)} -> "
          f"{ci_text(early_vs_late[column][:, 1], 4)}")
final_training_return = np.array([h.recent_return_mean() for h in pretrain_histories.values()])

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("The small CartPole runs above mostly sit below them",
      bool(all(share > 0.5 for share in share_below.values())),
      f"share of updates below the range: {', '.join(f'{k} {v:.0%}' for k, v in share_below.items())}")
claim("and they still learned",
      bool(final_training_return.min() > 50),
      f"mean return of the last 20 training episodes per seed {final_training_return.round(1)} (random policy ~22)")
claim("the updates shrink towards the end, which is what the falling lines show",
      bool(all(np.all(v[:, 1] < v[:, 0]) for v in early_vs_late.values())),
      "first vs last quarter per seed: " + "; ".join(f"{k} {v.round(4).tolist()}" for k, v in early_vs_late.items()))

# %% [markdown]
# | diagnostic | what it measures | a common healthy range | if it is too high | if it is near zero |
# |---|---|---|---|---|
# | clip fraction | share of samples with $\lvert r_t-1 \rvert > \epsilon$ in a minibatch, averaged over the update's steps | about 0.05 to 0.2 | steps too large for the band: lower the learning rate or the epochs, or stop early on KL | the policy barely moves: learning rate too small, or advantages all near 0 |
# | approx KL (k3) | how far the update moved the policy | about 0.01 to 0.02 per update; Spinning Up's PPO, for example, stops an update once its KL estimate passes $1.5 \times$ `target_kl` $= 0.015$, but its estimate is k1, the batch mean of $\texttt{logp\_old} - \texttt{logp}$, not k3 (the two agree for small steps; notebook 05 compares them) | the update left the trust region: early stopping (`target_kl`), smaller steps | same as above |
# | ratio histogram | the whole distribution of $r_t$ at the end of an update | a narrow peak at 1, tails a little past $1\pm\epsilon$ | long tails, mass at extreme ratios: over-optimised batch | a spike at exactly 1: nothing learned |
# | entropy | mean entropy $H$ of the policy on the batch, in nats, between 0 and $\log|A|$ | a slow decline from near $\log|A|$ as the policy learns, not close to 0 before the return has stopped improving | stuck near $\log|A|$: the policy never commits ($c_2$ too large, or no learning signal) | near 0 within a few updates while the return stalls: premature collapse, the policy has stopped exploring |
# | first-minibatch ratio | $r_t$ before any step | 1, up to float rounding (here $\lvert r_t - 1 \rvert < 10^{-6}$) | anything else is a bug: the policy used for collection differs from the one being updated (e.g. dropout / eval mode, re-sampled or clipped actions stored) | — |
#
# These ranges are rules of thumb from common implementations on benchmark suites (Atari, MuJoCo), not laws. The
# small CartPole runs above mostly sit *below* them, and they still learned (the training returns printed in
# section 4 are well above a random policy's): with a learning rate annealed towards 0 the updates shrink
# towards the end, which is what the falling lines show. What deserves attention is a change of regime within a
# run: a steady climb, or sudden jumps by an order of magnitude.
#
# ### Reading entropy on the dashboard
#
# `course_lib` logs the mean entropy of the policy per update next to the clip fraction and approx KL (the
# History's `entropy` column). Its scale is set by the action space, from 0 to $\log|A|$ (section 4 computed
# $\log 2 \approx 0.693$ nats for the corridor's two actions; CartPole has two actions as well), so read it as a
# share of $\log|A|$. The corridor runs of section 4 show the three regimes side by side, with the two distance
# diagnostics of this section:

# %%
EARLY, LATE = 5, 8  # the first EARLY and the last LATE updates of each run
dash = {}  # c2 -> entropy share of log|A| at MARKS, (clip fraction, approx KL) early and late
print(f"mean over {len(SEEDS)} seeds; entropy as a share of log|A| = {H_MAX:.3f} nats at updates "
      + ", ".join(map(str, MARKS)) + ";")
print(f"clip fraction and approx KL: mean of the first {EARLY} updates -> mean of the last {LATE}")
for c2 in ENT_COEFS:
    cf, kl = ent_column(c2, "clip_fraction"), ent_column(c2, "approx_kl")
    dash[c2] = dict(share=np.array([entropy[c2][:, k - 1].mean() / H_MAX for k in MARKS]),
                    clip=(cf[:, :EARLY].mean(), cf[:, -LATE:].mean()), kl=(kl[:, :EARLY].mean(), kl[:, -LATE:].mean()))
    d = dash[c2]
    print(f"c2 = {c2:<4g} entropy {' '.join(f'{s:4.0%}' for s in d['share'])} | clip fraction "
          f"{d['clip'][0]:.4f} -> {d['clip'][1]:.4f} | KL {d['kl'][0]:.1e} -> {d['kl'][1]:.1e}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Without the bonus, the clip fraction and the approx KL fell by more than a factor of 10 between the first "
      "five updates and the last eight",
      bool(dash[0.0]["clip"][0] > 10 * dash[0.0]["clip"][1] and dash[0.0]["kl"][0] > 10 * dash[0.0]["kl"][1]),
      f"clip fraction {dash[0.0]['clip'][0]:.4f} -> {dash[0.0]['clip'][1]:.4f}, "
      f"KL {dash[0.0]['kl'][0]:.1e} -> {dash[0.0]['kl'][1]:.1e}")
claim("With c2 = 3 the clip fraction stays below 1 % from the first update on",
      bool(ent_column(3.0, "clip_fraction").mean(0).max() < 0.01),
      f"largest mean clip fraction over the run {ent_column(3.0, 'clip_fraction').mean(0).max():.4f}")
claim("the healthy runs (c2 = 0.5) keep more than a third of the maximum entropy at update 5",
      bool(dash[0.5]["share"][1] > 1 / 3), f"share at update 5: {dash[0.5]['share'][1]:.2f}")

# %% [markdown]
# - **Healthy:** a slow decline from near $\log|A|$, reaching low values only once the return has stopped
#   improving. The healthy runs ($c_2 = 0.5$) keep more than a third of the maximum entropy at update 5 and
#   commit at the end, when the annealed learning rate is small.
# - **Premature collapse:** near 0 within a few updates while the return is stuck (the $c_2 = 0$ row). Look at
#   the distance diagnostics in the same runs. Without the bonus, the clip fraction and the approx KL fell by
#   more than a factor of 10 between the first five updates and the last eight: a policy that is already almost
#   deterministic has little left to change, so the dashboard looks *calm*. Calm distance diagnostics with a
#   collapsed entropy and a flat return are the signature of a policy that stopped exploring, not of one that
#   converged; only the return (against a known better score, or a run with a bonus) tells the two apart.
# - **Never commits:** entropy stuck near $\log|A|$ (the $c_2 = 3$ row). With $c_2 = 3$ the clip fraction stays
#   below 1 % from the first update on: the updates hardly move the policy, because the bonus pulls it back to
#   uniform as hard as the advantages pull it away.
#
# What to change: for a collapse, raise $c_2$ (or start high and anneal it), and check the advantages are not
# swamped by a bug; for a policy that never commits, lower $c_2$. The CartPole pre-training runs above used
# $c_2 = 0$ and learned anyway: CartPole rewards every step and has no coin at the door to settle for.
#
# ### Hyper-parameters: starting points and their measured effect here
#
# The right-hand column is generated from the configurations this notebook ran with.

# %%
def power_of_ten(x: float) -> str:
    """3e-3 -> '$3\\times10^{-3}$' (LaTeX for a table cell)."""
    exponent = int(np.floor(np.log10(x)))
    mantissa = x / 10.0**exponent
    return rf"$10^{{{exponent}}}$" if np.isclose(mantissa, 1) else rf"${mantissa:g}\times10^{{{exponent}}}$"


library_defaults = ppo.PPOConfig()  # what course_lib.algos.ppo uses for CartPole when nothing is overridden
c = pretrain_config
hyper_rows = [
    (r"clip range $\epsilon$", "0.1 to 0.3; 0.2 did best in the PPO paper's MuJoCo comparison, its Atari runs "
     "used 0.1 (annealed)",
     f"{c.clip_eps:g}, fixed, in pre-training (the library default starts at {library_defaults.clip_eps:g} and is "
     f"{'annealed' if library_defaults.anneal_clip else 'fixed'}); {CLIP_EPS:g} in section 4; effect on KL "
     "measured below"),
    ("epochs per batch", "3 to 10 (the paper: 10 for MuJoCo, 3 for Atari)",
     f"{c.update_epochs} in pre-training (the library's CartPole default is {library_defaults.update_epochs}); "
     f"{EPOCHS} in section 4 on purpose"),
    ("minibatches", "4 to 32 per batch",
     f"{c.num_minibatches} (the whole batch) in pre-training; {NUM_MINIBATCHES} in section 4"),
    ("learning rate", r"around $3\times10^{-4}$ (Adam), often annealed to 0",
     f"{power_of_ten(c.learning_rate)}{', annealed to 0' if c.anneal_lr else ''} in pre-training (the library's "
     f"CartPole default is {power_of_ten(library_defaults.learning_rate)}); {power_of_ten(LEARNING_RATE)}, constant, "
     "in section 4"),
    ("advantage normalisation", "on, per minibatch",
     f"{'per minibatch' if c.norm_adv else 'off'} in pre-training; per batch in section 4 (notebook 06)"),
    (r"entropy coefficient $c_2$ (`ent_coef`)", "0 to 0.01 (the PPO paper: 0.01 on Atari, none on MuJoCo); "
     "more where exploration is hard",
     f"{c.ent_coef:g} in pre-training (the library default is {library_defaults.ent_coef:g}); "
     + ", ".join(f"{c2:g}" for c2 in ENT_COEFS) + " on the corridor in section 4, where "
     + f"{ENT_COEFS[int(np.argmax([return_ci[c2].estimate for c2 in ENT_COEFS]))]:g} did best"),
]
display(Markdown("| setting | common starting points | this notebook |\n|---|---|---|\n"
                 + "\n".join(f"| {a} | {b} | {d} |" for a, b, d in hyper_rows)))

# %% [markdown]
# The next cell measures how $\epsilon$ and the number of epochs change how far one update moves the policy, on
# the same six batches as section 4 (clipped surrogate, everything else unchanged, no evaluation).

# %%
eps_values, epoch_marks = (0.1, 0.2, 0.3), (3, 10)
print("KL(pi_old || pi_theta) on the batch and share of ratios outside the band,\n"
      f"mean [95% bootstrap CI] over {len(SEEDS)} seeds")
sweep_kl = {}  # (eps, epochs) -> (seeds,) exact mean KL on each seed's batch
for eps_value in eps_values:
    records = [optimise_on_batch(pretrained[s], batches[s], "clip", s, epochs=max(epoch_marks),
                                 clip_eps=eps_value, eval_epochs=()) for s in SEEDS]
    for e in epoch_marks:
        sweep_kl[eps_value, e] = np.array([r.kl[e] for r in records])
        share_out = [r.clip_fraction[e] for r in records]
        print(f"  eps = {eps_value:.1f}, {e:2d} epochs:  KL {ci_text(sweep_kl[eps_value, e], 4)}   "
              f"outside band {ci_text(share_out, 2)}")
eps_factor = {e: sweep_kl[0.3, e].mean() / sweep_kl[0.1, e].mean() for e in epoch_marks}
epochs_factor = {eps_value: sweep_kl[eps_value, 10].mean() / sweep_kl[eps_value, 3].mean() for eps_value in eps_values}
plain_epochs_factor = kl_on_batch["plain"][:, 10].mean() / kl_on_batch["plain"][:, 3].mean()
sweep_ci = {key: bootstrap_ci(v) for key, v in sweep_kl.items()}
display(Markdown(
    f"**From $\\epsilon = 0.1$ to $0.3$** the mean KL of one update grows **{eps_factor[3]:.1f}×** after 3 epochs and "
    f"**{eps_factor[10]:.1f}×** after 10. **From 3 to 10 epochs** it changes by "
    + ", ".join(f"{epochs_factor[v]:.1f}× at $\\epsilon = {v}$" for v in eps_values)
    + f" with clipping, and by **{plain_epochs_factor:.1f}×** without clipping (section 4's plain runs)."))

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("the KL of one clipped update grows several-fold from eps = 0.1 to eps = 0.3, after 3 epochs and after 10 "
      "(factor above 3, 95% CIs apart)",
      bool(all(eps_factor[e] > 3 and sweep_ci[0.3, e].low > sweep_ci[0.1, e].high for e in epoch_marks)),
      f"factors {', '.join(f'{e} epochs x{eps_factor[e]:.1f}' for e in epoch_marks)}; CIs "
      + "; ".join(f"eps {v} {e} ep [{sweep_ci[v, e].low:.4f}, {sweep_ci[v, e].high:.4f}]"
                  for v in (0.1, 0.3) for e in epoch_marks))
claim("With clipping on, the band's width is the lever here: extra epochs add little",
      bool(max(epochs_factor.values()) < 2 and min(eps_factor.values()) > max(epochs_factor.values())),
      f"10 vs 3 epochs with clipping: {', '.join(f'eps {v} x{f:.2f}' for v, f in epochs_factor.items())}; "
      f"eps 0.3 vs 0.1: {', '.join(f'{e} epochs x{f:.1f}' for e, f in eps_factor.items())}")
claim("without clipping the extra epochs are exactly what sends the policy away",
      bool(plain_epochs_factor > 4), f"plain surrogate, 10 vs 3 epochs: KL x{plain_epochs_factor:.1f}")

# %% [markdown]
# The factors answer two questions: how much further one update goes with a wider band, and how much further
# with more epochs on the same batch. With clipping on, the band's width is the lever here: the KL of one
# clipped update grows several-fold from $\epsilon = 0.1$ to $\epsilon = 0.3$, while extra epochs add little once
# the profitable ratios sit past the band's edge. Without clipping the extra epochs are exactly what sends the
# policy away. So how far a clipped update goes is not fixed by the step size alone: $\epsilon$ changed it
# several-fold here. Larger learning rates and more minibatches per epoch change the balance between the levers,
# so measure on your own task.
#
# **Failure signs.** Clip fraction creeping up over training (the steps are growing relative to the band);
# approx KL jumping by an order of magnitude on some updates; ratios on the first minibatch that are not 1; the
# entropy collapsing early while the return stalls; the policy loss falling while the return does not rise (the
# surrogate is being over-fitted, as in section 4).

# %% [markdown]
# ## 9. Critical view and ethics
#
# - **A heuristic, not a guarantee.** The clip removes the incentive to move a ratio past the band; it does not
#   bound the ratio or the KL (section 4 measured ratios past $1\pm\epsilon$ under clipping). TRPO's KL
#   constraint (notebook 05) is the version with a guarantee attached, at a higher cost.
# - **Implementation details matter as much as the objective.** Engstrom et al. (2020) found that much of PPO's
#   advantage over TRPO in their experiments came from code-level choices (value clipping, reward scaling,
#   learning-rate annealing, orthogonal initialisation), and that the clipping alone did not keep the policy
#   inside the trust region. Claims that "PPO works because of the clip" deserve that caveat.
# - **Only as good as the advantages.** The surrogate trusts $\hat A_t$. A poor critic, or a reward that does
#   not say what we want, is optimised just as carefully and just as steadily.
# - **"Predictable" is not "safe".** Small steps make training curves smoother. They say nothing about whether
#   the behaviour that results is acceptable: a misspecified reward is followed step by small step. Settings where
#   safety matters need explicit constraints and costs (e.g. PPO-Lagrangian in Ray, Achiam & Amodei 2019),
#   evaluation against the constraints, and people who check.
# - **Compute.** Reusing each batch for several epochs makes PPO more sample-efficient than plain policy
#   gradient, but it is still an on-policy method that discards its data after each update; on tasks where
#   environment steps are expensive (robots, people), that cost is real.

# %% [markdown]
# ## 10. Further reading
#
# - Schulman, Wolski, Dhariwal, Radford & Klimov (2017), *Proximal Policy Optimization Algorithms*,
#   [arXiv:1707.06347](https://arxiv.org/abs/1707.06347). The clipped surrogate (eq. 7, figure 1 which section 2
#   redraws), the adaptive KL-penalty variant (section 4 of the paper) and the comparison table that includes
#   "no clipping".
# - Kakade & Langford (2002), *Approximately Optimal Approximate Reinforcement Learning*, ICML. Conservative
#   policy iteration: where the ratio-weighted surrogate $L^{CPI}$ and the idea of bounded policy changes come from.
# - Schulman, Levine, Moritz, Jordan & Abbeel (2015), *Trust Region Policy Optimization*, ICML,
#   [arXiv:1502.05477](https://arxiv.org/abs/1502.05477). The same surrogate with an explicit KL constraint,
#   solved with conjugate gradients (notebook 05).
# - Schulman, Moritz, Levine, Jordan & Abbeel (2016), *High-Dimensional Continuous Control Using Generalized
#   Advantage Estimation*, ICLR, [arXiv:1506.02438](https://arxiv.org/abs/1506.02438). The $\hat A_t$ that PPO's
#   surrogate is weighted with (notebook 03).
# - Engstrom, Ilyas, Santurkar, Tsipras, Janoos, Rudolph & Madry (2020), *Implementation Matters in Deep Policy
#   Gradients: A Case Study on PPO and TRPO*, ICLR, [arXiv:2005.12729](https://arxiv.org/abs/2005.12729). What
#   the clip does and does not do to the trust region.
# - Wang, He & Tan (2019), *Truly Proximal Policy Optimization*, UAI,
#   [arXiv:1903.07940](https://arxiv.org/abs/1903.07940). Shows the ratio is not actually bounded by clipping and
#   proposes a rollback and a KL-based trigger.
# - Andrychowicz et al. (2021), *What Matters in On-Policy Reinforcement Learning? A Large-Scale Empirical Study*,
#   ICLR, [arXiv:2006.05990](https://arxiv.org/abs/2006.05990). Which choices (including $\epsilon$ and the
#   number of epochs) matter, measured over many runs.
# - Huang, Dossa, Raffin, Kanervisto & Wang (2022), *The 37 Implementation Details of Proximal Policy
#   Optimization*, ICLR Blog Track
#   ([iclr-blog-track.github.io](https://iclr-blog-track.github.io/2022/03/25/ppo-implementation-details/)). The
#   diagnostics logged here (clip fraction, approx KL) and the details that make PPO work in practice.
# - Williams & Peng (1991), *Function Optimization Using Connectionist Reinforcement Learning Algorithms*,
#   Connection Science 3(3). Adds the policy's entropy to the policy-gradient objective to keep it exploring.
# - Mnih, Badia, Mirza, Graves, Lillicrap, Harley, Silver & Kavukcuoglu (2016), *Asynchronous Methods for Deep
#   Reinforcement Learning*, ICML, [arXiv:1602.01783](https://arxiv.org/abs/1602.01783). A3C: the entropy bonus
#   in the actor-critic loss, the form PPO's $c_2 H$ takes.
# - Schulman (2020), *Approximating KL Divergence*, blog note
#   ([joschu.net/blog/kl-approx.html](http://joschu.net/blog/kl-approx.html)). The k1/k3 estimators behind
#   `approx_kl`.

# %% [markdown]
# ## 11. Glossary and key takeaways
#
# | term | meaning |
# |---|---|
# | probability ratio $r_t$ | $\pi_\theta(a_t \mid s_t)/\pi_{\theta_{old}}(a_t \mid s_t) = \exp(\texttt{logp} - \texttt{logp\_old})$; 1 before the first step |
# | $L^{CPI}$ | the plain surrogate $\hat{\mathbb{E}}[r_t \hat A_t]$; its gradient at $\theta_{old}$ is the policy gradient |
# | $L^{CLIP}$ | $\hat{\mathbb{E}}[\min(r_t\hat A_t, \mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon)\hat A_t)]$, a pessimistic lower bound of $L^{CPI}$ |
# | clip range $\epsilon$ | half-width of the band around 1 beyond which a profitable ratio change earns nothing |
# | pessimistic bound | gains beyond the band are ignored, losses are always counted |
# | clip fraction | share of samples with $\lvert r_t - 1 \rvert > \epsilon$ |
# | approx KL (k3) | $\hat{\mathbb{E}}[(r_t-1) - \log r_t]$, a never-negative estimate of $\mathrm{KL}(\pi_{old} \Vert \pi_\theta)$ |
# | epoch | one pass of minibatch steps over the same batch |
# | trust region | the neighbourhood of $\pi_{old}$ in which the surrogate is a good guide |
# | entropy bonus | $-c_2 \hat{\mathbb{E}}_t[H[\pi_\theta](s_t)]$ in the loss ($+c_2 H$ in the objective); `ent_coef` in `course_lib` |
# | premature collapse | the policy's entropy falls to near 0 before it has found the better behaviour, so it stops sampling the actions that would show it |
# | $\log\lvert A \rvert$ | the largest entropy a policy over $\lvert A \rvert$ actions can have, reached by the uniform policy |
#
# **Key takeaways**
# 1. PPO reuses one batch for several epochs by optimising a surrogate, $\hat{\mathbb{E}}[r_t \hat A_t]$, that is
#    reliable only near the policy that collected the data.
# 2. The clip plus the min make a pessimistic bound: a sample stops contributing once its ratio has moved past
#    $1\pm\epsilon$ in the helpful direction; a move in the harmful direction is always counted and corrected.
#    The min does not cap the loss; clamping without it is a bug.
# 3. Optimising one batch for many epochs without the clip sends the KL and the ratios further with every few
#    epochs while the surrogate promises ever more; what happens to the real return is then no longer under the
#    batch's control.
# 4. Clipping keeps the update much closer, but does not bound it: watch clip fraction, approx KL and the ratio
#    histogram, and stop early when they leave their usual ranges.
# 5. The entropy bonus $-c_2 H$ keeps a policy exploring. Without it, a policy can collapse onto a good-enough
#    behaviour within a few updates, while the distance diagnostics look calm; too large a $c_2$ keeps the policy
#    from ever committing. Read the entropy as a share of $\log|A|$: a slow decline is healthy.
#
# KL divergence measured properly, TRPO's constraint, early stopping, and why PPO scales to large problems come
# next.
#
# [Next: 05 · Trust regions](05_trust_regions.ipynb)
