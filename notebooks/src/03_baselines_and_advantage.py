# %% [markdown]
# # 03 · Baselines and advantages: the same gradient on average, with far less noise
#
# **After this notebook you can**
#
# 1. explain why subtracting a baseline $b(s_t)$ leaves the expected policy gradient unchanged, and say when
#    it shrinks the variance and when it makes it worse;
# 2. compute reward-to-go returns, TD errors and GAE($\gamma, \lambda$) advantages by hand and with `course_lib`,
#    with `terminated` and `truncated` handled correctly;
# 3. *measure* the bias, variance and signal-to-noise ratio of a gradient estimator instead of taking them on trust;
# 4. use $\gamma$ and $\lambda$ as bias-variance knobs, and read a critic's explained variance;
# 5. write the combined actor-critic loss with the PPO paper's names $c_1$ and $c_2$.
#
# **Prerequisites:** notebooks 01 (actor, critic, TD error) and 02; PyTorch autograd; what an expectation
# and a variance are.
#
# **Time:** about 60 minutes to read and try things. Running all cells takes **16 s** on a 2-core CPU without a
# GPU (measured from a fresh kernel by `make time-notebooks`, load average 1.07; a busier machine is slower).
# The learning curves of section 4.2 were run once by `notebooks/scripts/nb03_learning_curves.py` (`make data`)
# and are loaded, with a check that they still match today's code.
#
# **Topic:** combining the policy gradient with a value function. Where a claim you may have met elsewhere is
# wrong or loose, a box marked **Common misconception** states it, shows the evidence and gives the right
# version.
#
# **Contents:** 1 Intuition · 2 The maths · 3 Build it · 4 Experiments · 5 Explore · 6 Check your
# understanding · 7 Debug the bug · 8 In practice · 9 Critical view · 10 Further reading · 11 Glossary and
# takeaways

# %%
import itertools
import math
from typing import NamedTuple

import gymnasium as gym
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from course_lib import exercises, plots, quiz, stored_results
from course_lib.advantages import discounted_returns, gae, td_errors
from course_lib.diagnostics import explained_variance
from course_lib.claims import claim
from course_lib.envs import make_vec_env
from course_lib.losses import entropy_bonus, policy_gradient_loss, ppo_clip_loss, value_loss
from course_lib.stats import bootstrap_ci

torch.set_num_threads(1)
plots.use_course_style()
SEED = 0
torch.manual_seed(SEED)

# %% [markdown]
# ## 1. Intuition and terms
#
# Think of a fund manager judged at the end of a year in which the whole stock market rose by 20%. Every share
# in the portfolio went up, so "this share made money" says almost nothing about whether buying *it* was a good
# decision. What does say something is the share's gain **minus what the market did anyway**: that difference
# is positive for good picks and negative for bad ones, whatever kind of year it was.
#
# A policy gradient has the same problem. In CartPole every step pays $+1$, so every action is followed by a
# positive return, and REINFORCE pushes up the probability of *every* action it took, the good ones only a
# little more than the bad ones. The useful signal is a small difference hidden inside a big shared part, and
# the random noise of that shared part drowns it. A **baseline** $b(s)$ plays the market's role: subtract what
# you expected from state $s$ anyway, and the weight of an action becomes positive when it did better than
# expected and negative when it did worse. Subtracting it changes nothing on average (section 2 proves this),
# but it can remove most of the noise.
#
# The picture below makes that concrete with one state and two actions, chosen with probability 1/2 each. After
# "left" the return is about 100, after "right" about 105 (both with standard deviation 15). The best possible
# baseline here is the state's value, $V(s) = 102.5$.

# %%
rng = np.random.default_rng(SEED)
n_samples = 2000
mu_left, mu_right, sigma = 100.0, 105.0, 15.0
G_left = rng.normal(mu_left, sigma, n_samples)    # returns that followed "left"  (the worse action)
G_right = rng.normal(mu_right, sigma, n_samples)  # returns that followed "right" (the better action)
V_s = 0.5 * mu_left + 0.5 * mu_right              # V(s) = sum_a pi(a|s) Q(s, a) = 102.5

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
bins = np.linspace(-60, 170, 70)
for ax, b, title in [(axes[0], 0.0, "weight = return $G$ (no baseline)"),
                     (axes[1], V_s, "weight = $G - V(s)$ (baseline)")]:
    ax.hist(G_left - b, bins, alpha=0.6, label='after "left" (worse)')
    ax.hist(G_right - b, bins, alpha=0.6, label='after "right" (better)')
    ax.axvline(0.0, color="k", lw=1)
    ax.set_title(title)
    ax.set_xlabel(r"weight on $\nabla_\theta \log \pi_\theta(a|s)$")
axes[0].set_ylabel("samples")
axes[0].legend(loc="upper left")
plt.tight_layout()
plots.show(fig, alt="Two histograms of the weight each sampled action gets in the policy gradient, after the "
                    "worse action 'left' and after the better action 'right': with the return G as the "
                    "weight (left) both lie above zero; with G - V(s) (right) they straddle zero.")
print(f'samples in which the worse action "left" gets pushed UP: '
      f"no baseline {np.mean(G_left > 0):.0%}, with baseline {np.mean(G_left - V_s > 0):.0%}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Without a baseline every sample pushes its action up",
      bool(np.all(G_left > 0) and np.all(G_right > 0)),
      f"smallest return: left {G_left.min():.1f}, right {G_right.min():.1f}")
claim("With the baseline the worse action is pushed *down* in most samples",
      bool(np.mean(G_left - V_s < 0) > 0.5),
      f"share of 'left' samples with G - V(s) < 0: {np.mean(G_left - V_s < 0):.1%}")

# %% [markdown]
# Without a baseline every sample pushes its action up, and the policy only moves towards "right" because
# "right" gets pushed up a little harder on average. With the baseline the worse action is pushed *down* in most
# samples. How much noise that removes can be computed exactly for this example. Take the one-parameter policy
# $\pi_\theta(\text{right}) = \sigma(\theta)$ at $\theta = 0$; its score is
# $\nabla_\theta \log \pi_\theta(a) = a - \sigma(\theta)$ ($a = 1$ for right, $0$ for left). The one-sample
# gradient estimate is $\hat g = (a - \sigma(\theta))\,(G - b)$, and its mean and variance follow from the two
# return distributions:

# %%
def one_state_gradient_stats(b: float, p_right: float = 0.5) -> tuple[float, float]:
    """Exact mean and variance of g = (a - p) * (G - b) in the two-action example above.

    a = 1 (right, probability p) or 0 (left); G ~ N(mu_a, sigma^2). Returns (E[g], Var[g]) as floats.
    """
    s_left, s_right = -p_right, 1.0 - p_right  # score a - p of each action
    # E[g] = sum_a pi(a) * score(a) * (mu_a - b)
    mean = (1 - p_right) * s_left * (mu_left - b) + p_right * s_right * (mu_right - b)
    # E[g^2] = sum_a pi(a) * score(a)^2 * ((mu_a - b)^2 + sigma^2)
    second = ((1 - p_right) * s_left**2 * ((mu_left - b) ** 2 + sigma**2)
              + p_right * s_right**2 * ((mu_right - b) ** 2 + sigma**2))
    return mean, second - mean**2


# %%
# NBVAL_CHECK_OUTPUT
print(f"{'baseline b':>22} {'E[g]':>8} {'Var[g]':>10} {'SNR = E[g]^2/Var[g]':>20}")
for label, b in [("0 (none)", 0.0), ("V(s) = 102.5", V_s), ("250 (a poor guess)", 250.0)]:
    mean, var = one_state_gradient_stats(b)
    print(f"{label:>22} {mean:8.4f} {var:10.4f} {mean**2 / var:20.6f}")

# %%
# the same numbers estimated from the 2 x 2000 samples drawn above (half the samples are "left")
for label, b in [("0 (none)", 0.0), ("V(s) = 102.5", V_s), ("250 (a poor guess)", 250.0)]:
    g = np.concatenate([-0.5 * (G_left - b), 0.5 * (G_right - b)])
    print(f"{label:>22}: sampled mean {g.mean():7.3f}, sampled variance {g.var():9.1f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
exact = {b: one_state_gradient_stats(b) for b in (0.0, V_s, 250.0)}
claim("The mean is the same for every $b$",
      bool(max(abs(m - exact[0.0][0]) for m, _ in exact.values()) < 1e-9),
      f"E[g] for b = 0, V(s), 250: {[round(m, 6) for m, _ in exact.values()]}")
claim("the baseline $V(s)$ cuts [the variance] ..., and a baseline far from the returns makes it *larger* than no "
      "baseline at all", bool(exact[V_s][1] < exact[0.0][1] < exact[250.0][1]),
      f"Var[g]: V(s) {exact[V_s][1]:.1f} < none {exact[0.0][1]:.1f} < 250 {exact[250.0][1]:.1f}")

# %% [markdown]
# The mean is the same for every $b$ (that is the "unbiased" part), while the variance changes with $b$: the
# baseline $V(s)$ cuts it by the factor printed above, and a baseline far from the returns makes it *larger*
# than no baseline at all. Section 4 repeats this measurement on CartPole with a real policy.
#
# **Key terms**
#
# | term | meaning here |
# |---|---|
# | return-to-go $G_t$ | the (discounted) sum of the rewards from step $t$ to the end of the episode |
# | baseline $b(s_t)$ | any function of the state (not of the action) subtracted from $G_t$ before weighting $\nabla \log \pi$ |
# | value $V^\pi(s)$ | expected return-to-go from $s$ when following $\pi$; the usual baseline |
# | critic $V_\phi(s)$ | a learned estimate of $V^\pi$ |
# | advantage $A^\pi(s, a)$ | $Q^\pi(s, a) - V^\pi(s)$: how much better action $a$ is than the policy's average in $s$ |
# | TD error $\delta_t$ | $r_t + \gamma V(s_{t+1}) - V(s_t)$: a one-step advantage estimate that trusts the critic |
# | GAE($\gamma, \lambda$) | a weighted sum of TD errors, sliding between $\delta_t$ ($\lambda = 0$) and $G_t - V(s_t)$ ($\lambda = 1$) |
# | bias / variance | how far the *average* estimate is from the true gradient / how much single estimates scatter around their average |
# | signal-to-noise ratio (SNR) | $\lVert \mathbb{E}[\hat g] \rVert^2 / \operatorname{tr}\operatorname{Cov}[\hat g]$: above 1, one estimate mostly points the right way |

# %% [markdown]
# ## 2. The maths
#
# **Objective.** For an episodic task, $J(\theta) = \mathbb{E}_{\tau \sim \pi_\theta}\big[\sum_{t=0}^{T-1} r_t\big]$,
# the expected return of an episode $\tau = (s_0, a_0, r_0, s_1, \dots)$ of random length $T$.
# (Discounting comes back below.)
#
# **Score-function (REINFORCE) gradient** (Williams 1992). Because $\nabla_\theta p = p \nabla_\theta \log p$,
#
# $$\nabla_\theta J = \mathbb{E}\Big[\sum_{t} \nabla_\theta \log \pi_\theta(a_t \mid s_t)\; G_0\Big],
# \qquad G_0 = \sum_{t} r_t .$$
#
# **Causality.** The action $a_t$ cannot change rewards that came before it; those terms average to zero, and
# dropping them gives the *reward-to-go* form
#
# $$\nabla_\theta J = \mathbb{E}\Big[\sum_{t} \nabla_\theta \log \pi_\theta(a_t \mid s_t)\; G_t\Big],
# \qquad G_t = \sum_{k \ge t} r_k .$$
#
# **Baselines cost no bias.** For any $b(s_t)$ that does not depend on $a_t$,
#
# $$\mathbb{E}_{a \sim \pi_\theta(\cdot \mid s)}\big[\nabla_\theta \log \pi_\theta(a \mid s)\, b(s)\big]
# = b(s) \sum_a \pi_\theta(a \mid s)\, \nabla_\theta \log \pi_\theta(a \mid s)
# = b(s)\, \nabla_\theta \sum_a \pi_\theta(a \mid s) = b(s)\, \nabla_\theta 1 = 0,$$
#
# so $\nabla_\theta J = \mathbb{E}\big[\sum_t \nabla_\theta \log \pi_\theta(a_t \mid s_t)\,(G_t - b(s_t))\big]$ for
# *every* such $b$: it can be a constant, a bad guess, or a critic fitted on other data. The bias is exactly
# zero; only the variance depends on $b$. (A baseline that depends on $a_t$ breaks the argument.)
#
# **Advantage.** With $b = V^\pi$, the weight $G_t - V^\pi(s_t)$ is an unbiased sample of the advantage
# $A^\pi(s_t, a_t) = Q^\pi(s_t, a_t) - V^\pi(s_t)$. In practice a critic $V \approx V^\pi$ is learned;
# $G_t - V(s_t)$ stays unbiased (it is still a baseline), but $G_t$ still carries the noise of every later
# action and transition.
#
# **TD error.** Replace the sampled future by the critic's guess:
#
# $$\delta_t = r_t + \gamma\, V(s_{t+1})\,(1 - \text{terminated}_t) - V(s_t).$$
#
# Only one reward is sampled, so $\delta_t$ has far less variance; but
# $\mathbb{E}[\delta_t \mid s_t, a_t] = A^\pi(s_t, a_t)$ only if $V = V^\pi$. With an imperfect critic the TD
# error is **biased**. On a truncated step (time limit) $V(s_{t+1})$ is the value of the final observation: the
# state still had a future, so we bootstrap from it.
#
# **Generalised advantage estimation** (Schulman et al. 2016) mixes the two:
#
# $$\hat A_t = \sum_{l \ge 0} (\gamma \lambda)^l\, \delta_{t+l}
# \quad\Longleftrightarrow\quad
# \hat A_t = \delta_t + \gamma \lambda\, (1 - \text{done}_t)\, \hat A_{t+1},$$
#
# with $\text{done}_t = \max(\text{terminated}_t, \text{truncated}_t)$ so an advantage never leaks across an
# episode boundary. At $\lambda = 0$ it is $\delta_t$; at $\lambda = 1$ the $V$ terms telescope and it is
# $G^\gamma_t - V(s_t)$ (bootstrapped at a truncation or at the end of the batch). Only where the episode really
# ends inside the batch is the critic then a pure baseline, free of bias; where the return is bootstrapped $k$
# steps later, $\gamma^k V(s_{t+k})$ stays in $\hat A_t$, and with it the critic's error at that state. The
# critic's regression target is $R_t = \hat A_t + V(s_t)$.
#
# **Discount.** $G^\gamma_t = \sum_{k \ge t} \gamma^{k-t} r_k$. The discount $\gamma$ is part of the *objective*
# (rewards more than about $1/(1-\gamma)$ steps ahead hardly count). $\lambda$ is not: it only changes how the
# advantage is *estimated*. Practitioners also lower $\gamma$ below what the task needs, to cut variance, and
# pay for it with bias; section 5 lets you see both knobs at work.
#
# **The combined loss.** A2C minimises one scalar for actor and critic together,
#
# $$\mathcal{L} = -\frac{1}{B}\sum_{i} \log \pi_\theta(a_i \mid s_i)\, \hat A_i
# \;+\; c_1 \cdot \frac{1}{2B} \sum_i \big(V_\phi(s_i) - R_i\big)^2
# \;-\; c_2 \cdot \frac{1}{B} \sum_i \mathcal{H}\big[\pi_\theta(\cdot \mid s_i)\big],$$
#
# with $\hat A_i$ and $R_i$ treated as constants. PPO (notebook 04) keeps the last two terms and replaces the
# first by its clipped surrogate $L^{\text{CLIP}}$: the paper *maximises*
# $L^{\text{CLIP}+\text{VF}+S} = \hat{\mathbb{E}}\big[L^{\text{CLIP}}_t - c_1 L^{\text{VF}}_t + c_2 S[\pi_\theta](s_t)\big]$
# (Schulman et al. 2017, eq. 9), i.e. it minimises $-L^{\text{CLIP}} + c_1 L^{\text{VF}} - c_2 \mathcal{H}$.
#
# > **Common misconception.** "The total actor-critic loss is $-J + \lambda L$, with $\lambda$ the weight of the
# > value loss." The weight is real, but its name is not: the PPO paper calls it $c_1$ (and the entropy weight
# > $c_2$), see eq. 9 quoted above. $\lambda$ is GAE's parameter, and one algorithm with two different
# > $\lambda$s is a bug waiting to happen. Code names: `vf_coef` $= c_1$, `ent_coef` $= c_2$,
# > `lam` $= \lambda$; section 3.4 builds the loss with these names.
#
# | maths | code | maths | code |
# |---|---|---|---|
# | $\gamma$ | `gamma` | $\log \pi_\theta(a_t \mid s_t)$ | `logp` |
# | $\lambda$ | `lam` | $V(s_t)$, $V(s_{t+1})$ | `values`, `next_values` |
# | $\delta_t$ | `delta` / `td_errors(...)` | $\hat A_t$ | `adv` |
# | $G_t$ | `discounted_returns(...)` | $R_t$ | `ret` |
# | $c_1$, $c_2$ | `vf_coef`, `ent_coef` | $\nabla_\theta \log \pi_\theta(a \mid s)$ | `score(...)` |

# %% [markdown]
# ## 3. Build it
#
# ### 3.1 Returns and GAE in a few lines
#
# First the two estimators written as plain loops over one trajectory, exactly as the equations read, then
# the same from `course_lib.advantages` on the same input. The example has six steps from two episodes: the
# first ends in failure (`terminated`) at $t = 2$, the second is cut by a time limit (`truncated`) at $t = 5$.

# %%
def reward_to_go(rewards: list[float], gamma: float) -> list[float]:
    """G_t = r_t + gamma * G_{t+1} for one episode (no bootstrapping); rewards (T,) -> (T,)."""
    G, out = 0.0, []
    for r in reversed(rewards):
        # G_t = r_t + gamma * G_{t+1}
        G = r + gamma * G
        out.append(G)
    return out[::-1]


def gae_loop(rewards, values, next_values, terminated, truncated, gamma, lam):
    """GAE(gamma, lam) advantages of one trajectory, all inputs (T,) lists -> (T,) list."""
    adv, next_adv = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):
        # delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
        delta = rewards[t] + gamma * next_values[t] * (1 - terminated[t]) - values[t]
        done = max(terminated[t], truncated[t])
        # A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
        next_adv = delta + gamma * lam * (1 - done) * next_adv
        adv[t] = next_adv
    return adv


rewards = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
values = [2.5, 1.8, 0.9, 3.0, 2.6, 2.2]        # V(s_t)
next_values = [1.8, 0.9, 0.4, 2.6, 2.2, 2.0]   # V(s_{t+1}); 0.4 is ignored (terminated), 2.0 = V(final obs)
terminated = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
truncated = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
gamma = 0.9

# %%
# NBVAL_CHECK_OUTPUT
def as_t(x: list[float]) -> torch.Tensor:
    """A list of floats as a (T,) tensor."""
    return torch.tensor(x)


print("reward-to-go of the first episode: ", [round(g, 4) for g in reward_to_go(rewards[:3], gamma)])
print("course_lib.discounted_returns:     ",
      [round(g, 4) for g in discounted_returns(as_t(rewards), as_t(terminated), as_t(truncated), gamma)[:3].tolist()])
for lam in (0.0, 0.9, 1.0):
    mine = gae_loop(rewards, values, next_values, terminated, truncated, gamma, lam)
    lib = gae(as_t(rewards), as_t(values), as_t(next_values), as_t(terminated), as_t(truncated), gamma, lam)
    agree = all(abs(a - b) < 1e-5 for a, b in zip(mine, lib.advantages.tolist()))
    print(f"lam={lam}: mine {[round(a, 4) for a in mine]}   equal to course_lib.gae: {agree}")
# the two ends of the lambda scale
delta = td_errors(as_t(rewards), as_t(values), as_t(next_values), as_t(terminated), gamma)
G_boot = discounted_returns(as_t(rewards), as_t(terminated), as_t(truncated), gamma, next_values=as_t(next_values))
print("lam=0 equals the TD errors:          ",
      torch.allclose(gae(as_t(rewards), as_t(values), as_t(next_values), as_t(terminated), as_t(truncated),
                         gamma, 0.0).advantages, delta))
print("lam=1 equals G_t (bootstrapped) - V:  ",
      torch.allclose(gae(as_t(rewards), as_t(values), as_t(next_values), as_t(terminated), as_t(truncated),
                         gamma, 1.0).advantages, G_boot - as_t(values)))

# %% [markdown]
# Note the step $t = 5$: the time limit cut the episode, so its advantage bootstraps from $V$ of the final
# observation ($2.0$) instead of pretending that nothing follows. At $t = 2$ the pole fell, nothing follows, and
# the $0.4$ is ignored.

# %% [markdown]
# ### 3.1b What GAE's return target is: the λ-return
#
# `gae` returns two things, $\hat A_t$ and $R_t = \hat A_t + V(s_t)$, and the critic regresses on $R_t$. That
# target has a name of its own. Start from the **$n$-step return**, $n$ real rewards and then the critic:
#
# $$G^{(n)}_t = r_t + \gamma r_{t+1} + \dots + \gamma^{n-1} r_{t+n-1} + \gamma^n V(s_{t+n}).$$
#
# The **λ-return** (Sutton & Barto 2018, §12.1) averages all of them with geometric weights that sum to 1:
#
# $$G^\lambda_t = (1 - \lambda) \sum_{n \ge 1} \lambda^{n-1} G^{(n)}_t .$$
#
# If the episode ends (or the batch stops) $k$ steps after $t$, every $G^{(n)}_t$ with $n \ge k$ is the same
# return, cut there (bootstrapped from $V$ of the final observation at a truncation or the batch end, not at
# all at a termination), so their weights pile up on it:
# $G^\lambda_t = (1-\lambda) \sum_{n=1}^{k-1} \lambda^{n-1} G^{(n)}_t + \lambda^{k-1} G^{(k)}_t$.
#
# **The identity.** Inside an episode the $V$ terms telescope: $G^{(n)}_t - V(s_t) = \sum_{l=0}^{n-1} \gamma^l
# \delta_{t+l}$. Put this into the average and swap the two sums; $\delta_{t+l}$ appears in every $G^{(n)}$ with
# $n > l$, whose weights add up to $\sum_{n > l} (1-\lambda) \lambda^{n-1} = \lambda^l$:
#
# $$G^\lambda_t - V(s_t) = \sum_{l \ge 0} \gamma^l \lambda^l\, \delta_{t+l} = \hat A^{\text{GAE}(\gamma, \lambda)}_t
# \qquad\Longleftrightarrow\qquad \hat A_t + V(s_t) = G^\lambda_t .$$
#
# So GAE's advantage is the λ-return minus the baseline, and the critic's target is the λ-return itself:
# $\lambda$ slides the critic's target along the same dial as the advantage, from the TD target
# ($\lambda = 0$) to the Monte Carlo return ($\lambda = 1$).
#
# **Shown on numbers.** Below, the λ-return is computed the long way, forward in time: for every step, every
# $n$-step return up to the end of its episode, then their weighted average. No TD errors, no backward
# recursion. The trajectory is random: 40 steps, rewards and values drawn at random, some episodes ending in
# a termination, some cut by a time limit, the last one still running when the batch stops.

# %%
def lambda_returns_forward(rewards, next_values, terminated, truncated, gamma, lam):
    """G^lambda_t for every t of one trajectory, straight from the definition; all inputs (T,) lists -> (T,) list.

    next_values[t] = V(s_{t+1}) (V of the final observation where step t ended an episode).
    """
    T, out = len(rewards), []
    for t in range(T):
        # k: steps from t to the end of t's episode or of the batch, whichever comes first
        k = 1
        while t + k - 1 < T - 1 and not (terminated[t + k - 1] or truncated[t + k - 1]):
            k += 1
        n_step = []  # G^(1)_t ... G^(k)_t
        for n in range(1, k + 1):
            last = t + n - 1
            # G^(n)_t = sum_{l<n} gamma^l r_{t+l} + gamma^n V(s_{t+n}), no bootstrap after a termination
            g = sum(gamma**l * rewards[t + l] for l in range(n))
            g += gamma**n * (1.0 - terminated[last]) * next_values[last]
            n_step.append(g)
        # G^lambda_t = (1 - lam) sum_{n<k} lam^(n-1) G^(n)_t + lam^(k-1) G^(k)_t
        weights = [(1 - lam) * lam ** (n - 1) for n in range(1, k)] + [lam ** (k - 1)]
        out.append(sum(w * g for w, g in zip(weights, n_step)))
    return out


# %%
# NBVAL_CHECK_OUTPUT
rng_lr = np.random.default_rng(SEED)
T_lr = 40
lr_rewards = rng_lr.normal(size=T_lr)
lr_values = rng_lr.normal(size=T_lr)  # V(s_t)
lr_term = np.zeros(T_lr)
lr_trunc = np.zeros(T_lr)
lr_term[[6, 19]] = 1.0  # two episodes end in failure
lr_trunc[[12, 30]] = 1.0  # two are cut by a time limit; the last one runs past t = 39
lr_done = np.maximum(lr_term, lr_trunc)
# V(s_{t+1}): the next step's value inside an episode, V(final obs) (a fresh number) where an episode ends
lr_next = np.where(lr_done == 1.0, rng_lr.normal(size=T_lr), np.append(lr_values[1:], rng_lr.normal()))
lr_gaps = {}
for lam in (0.0, 0.5, 0.9, 0.95, 1.0):
    forward = np.array(lambda_returns_forward(lr_rewards.tolist(), lr_next.tolist(), lr_term.tolist(),
                                              lr_trunc.tolist(), 0.99, lam))
    est = gae(torch.tensor(lr_rewards), torch.tensor(lr_values), torch.tensor(lr_next), torch.tensor(lr_term),
              torch.tensor(lr_trunc), 0.99, lam)
    lr_gaps[lam] = float(np.abs(est.returns.numpy() - forward).max())
    print(f"lam = {lam:4}: G^lambda_0 = {forward[0]:+.4f}; max over t of |A_t + V(s_t) - G^lambda_t| < 1e-9: "
          f"{lr_gaps[lam] < 1e-9}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("GAE's advantage plus V(s_t) equals the λ-return at every step, for every λ tried, episode ends included",
      bool(max(lr_gaps.values()) < 1e-9), f"largest gap {max(lr_gaps.values()):.1e} over λ {list(lr_gaps)}")

# %% [markdown]
# GAE's advantage plus $V(s_t)$ equals the λ-return at every step, for every $\lambda$ tried, episode ends
# included: the backward recursion of section 3.1, a few multiply-adds per step, computes the same weighted
# average of $n$-step returns. (The course's test suite repeats the check on random batches of several
# environments.)

# %%
quiz.show("03.lambda_return_identity")

# %%
quiz.show("03.lambda_return_weights")

# %% [markdown]
# ### 3.2 The loss, and why the baseline is detached
#
# The actor's loss weights $\log \pi$ by the advantage; the critic's loss regresses $V$ on the return. Written
# small, then checked against `course_lib.losses` on the same random batch, gradients included:

# %%
def actor_critic_loss(logp, values, adv, ret, c1):
    """-mean(logp * adv) + c1 * 0.5 * mean((values - ret)^2); logp, values, adv, ret (B,) -> scalar.

    adv and ret are constants (detached): only logp (the actor) and values (the critic) get gradients.
    """
    # L_PG = -mean(log pi(a|s) * A)
    actor = -(logp * adv.detach()).mean()
    # L_VF = 0.5 * mean((V(s) - R)^2)
    critic = 0.5 * ((values - ret.detach()) ** 2).mean()
    return actor + c1 * critic


gen = torch.Generator().manual_seed(SEED)
B = 8
logp0 = -torch.rand(B, generator=gen) - 0.1
values0 = 10 + 3 * torch.randn(B, generator=gen)
ret0 = values0 + torch.randn(B, generator=gen)
c1 = 0.5


def grads(loss_fn):
    """(loss, d loss / d logp, d loss / d values) of loss_fn(logp, values) at the fixed batch."""
    logp, values = logp0.clone().requires_grad_(), values0.clone().requires_grad_()
    loss = loss_fn(logp, values)
    loss.backward()
    # a tensor that did not take part in the loss gets no .grad at all: count that as a zero gradient
    return loss.item(), logp.grad, torch.zeros(B) if values.grad is None else values.grad


mine = grads(lambda lp, v: actor_critic_loss(lp, v, ret0 - v.detach(), ret0, c1))
lib = grads(lambda lp, v: policy_gradient_loss(lp, ret0 - v.detach()) + c1 * value_loss(v, ret0))

# %%
# NBVAL_CHECK_OUTPUT
print(f"loss: mine {mine[0]:.4f}, course_lib {lib[0]:.4f}")
print("same gradients (logp, values):", torch.allclose(mine[1], lib[1], atol=1e-6), torch.allclose(mine[2], lib[2], atol=1e-6))
# what the ACTOR's loss alone does to the critic, with and without detaching the baseline
_, _, g_detached = grads(lambda lp, v: -(lp * (ret0 - v.detach())).mean())
_, _, g_attached = grads(lambda lp, v: -(lp * (ret0 - v)).mean())
print(f"|d actor-loss / d values|: baseline detached {g_detached.abs().sum():.4f}, "
      f"not detached {g_attached.abs().sum():.4f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("With the baseline detached, the actor's loss sends no gradient into the critic",
      bool(g_detached.abs().sum() == 0), f"sum |d actor-loss / d V| = {g_detached.abs().sum():.1e}")
claim("Without `.detach()` ... gradient descent pushes every value *up*",
      bool((g_attached < 0).all()), f"d actor-loss / d V = {g_attached.numpy().round(4)} (all negative)")

# %% [markdown]
# With the baseline detached, the actor's loss sends no gradient into the critic. Without `.detach()` it does:
# $\partial(-\log\pi \cdot (G - V))/\partial V = \log \pi$, which is always negative, so gradient descent
# pushes every value *up*, without limit and whatever the returns are, simply because a larger $V$ makes the
# actor's loss smaller. The critic must learn from its own loss only.
#
# ### 3.3 The smallest policy network, and the score identity
#
# The experiments below need a fixed policy whose gradient we can compute for thousands of episodes. The
# smallest network does: one linear layer and a sigmoid on CartPole's four observations,
# $\pi_\theta(\text{push right} \mid s) = \sigma(\theta^\top x)$ with $x = (s, 1)$ (five weights). Its score has
# a closed form, $\nabla_\theta \log \pi_\theta(a \mid s) = (a - \sigma(\theta^\top x))\, x$, which we check
# against autograd, together with the identity $\sum_a \pi_\theta(a \mid s) \nabla_\theta \log \pi_\theta(a \mid s) = 0$
# behind "baselines cost no bias".

# %%
# weights on (cart position, cart velocity, pole angle, pole angular velocity, 1): push towards the side the
# pole leans and falls to, softly, so the policy is decent but random (episodes of very different lengths)
THETA = torch.tensor([0.0, 0.3, 6.0, 1.5, 0.0])


def features(obs: torch.Tensor) -> torch.Tensor:
    """x = (s, 1): obs (..., 4) -> (..., 5)."""
    return torch.cat([obs, torch.ones(obs.shape[:-1] + (1,), dtype=obs.dtype)], dim=-1)


def prob_right(obs: torch.Tensor, theta: torch.Tensor = THETA) -> torch.Tensor:
    """pi(push right | s) = sigmoid(theta . x): obs (..., 4) -> (...)."""
    return torch.sigmoid(features(obs) @ theta)


def score(obs: torch.Tensor, actions: torch.Tensor, theta: torch.Tensor = THETA) -> torch.Tensor:
    """grad_theta log pi(a|s) = (a - sigmoid(theta . x)) * x: obs (..., 4), actions (...) in {0, 1} -> (..., 5)."""
    return (actions - prob_right(obs, theta))[..., None] * features(obs)


states = torch.randn(4, 4, generator=gen) * torch.tensor([1.0, 1.0, 0.1, 0.5])
worst_autograd, worst_identity = 0.0, 0.0
for s in states:
    for a in (0.0, 1.0):
        th = THETA.clone().requires_grad_()
        torch.distributions.Bernoulli(logits=features(s) @ th).log_prob(torch.tensor(a)).backward()
        worst_autograd = max(worst_autograd, (th.grad - score(s, torch.tensor(a))).abs().max().item())
    p = prob_right(s)
    # sum_a pi(a|s) * score(s, a) = p * score(s, 1) + (1 - p) * score(s, 0)
    expected_score = p * score(s, torch.tensor(1.0)) + (1 - p) * score(s, torch.tensor(0.0))
    worst_identity = max(worst_identity, expected_score.abs().max().item())

# %%
# NBVAL_CHECK_OUTPUT
print("closed-form score equals autograd (to 1e-6):    ", worst_autograd < 1e-6)
print("E_a[score(s, a)] = 0 at every test state (1e-6):", worst_identity < 1e-6)

# %% [markdown]
# ### 3.4 A preview of PPO's combined loss
#
# PPO's clipped surrogate replaces $\log \pi \cdot \hat A$ by $\min(r \hat A, \operatorname{clip}(r, 1 \pm \epsilon) \hat A)$
# with the ratio $r = \pi_\theta / \pi_{\theta_\text{old}}$. Before the first update $\pi_\theta = \pi_{\theta_\text{old}}$,
# so $r = 1$ and $\nabla r = \nabla \log \pi$: PPO's first step has exactly the A2C gradient. Here is the combined
# loss $-L^{\text{CLIP}} + c_1 L^{\text{VF}} - c_2 \mathcal{H}$ built from `course_lib.losses`, next to the A2C loss on the
# same batch. Their values differ (the surrogate is $\hat{\mathbb{E}}[r \hat A]$, not $\hat{\mathbb{E}}[\log\pi\,\hat A]$), their
# gradients do not. Notebook 04 is about what happens after that first step.

# %%
logits = torch.randn(B, 2, generator=gen)
actions = torch.randint(0, 2, (B,), generator=gen)
adv0 = torch.randn(B, generator=gen)
c1, c2, clip_eps = 0.5, 0.01, 0.2


def combined_loss(kind: str):
    """The A2C or PPO combined loss on the fixed batch; returns (loss value, gradient wrt the logits)."""
    lg = logits.clone().requires_grad_()
    dist = torch.distributions.Categorical(logits=lg)
    logp = dist.log_prob(actions)
    if kind == "ppo":
        # -L_clip with logp_old = logp (before the first update the ratio is 1)
        policy_term, _ = ppo_clip_loss(logp, logp.detach(), adv0, clip_eps)
    else:
        policy_term = policy_gradient_loss(logp, adv0)
    # loss = policy term + c1 * L_VF - c2 * H
    loss = policy_term + c1 * value_loss(values0, ret0) - c2 * entropy_bonus(dist.entropy())
    loss.backward()
    return loss.item(), lg.grad


# %%
# NBVAL_CHECK_OUTPUT
loss_a2c, grad_a2c = combined_loss("a2c")
loss_ppo, grad_ppo = combined_loss("ppo")
print(f"A2C loss {loss_a2c:.4f}   PPO loss {loss_ppo:.4f}   "
      f"same gradient: {torch.allclose(grad_a2c, grad_ppo, atol=1e-6)}")

# %% [markdown]
# ## 4. Experiments
#
# ### 4.1 The central experiment: one fixed policy, many gradient estimates
#
# Is "a baseline leaves the mean unchanged and lowers the variance" true? We **measure** it. The policy is
# frozen at `THETA`; we play thousands of CartPole episodes with it and compute, from *each episode*, one
# estimate of $\nabla_\theta J$ with each estimator. Then for each estimator we look at
#
# * its **mean**: the average over all episodes, with a 95% confidence interval; unbiased estimators must agree;
# * its **variance**: how far single-episode estimates scatter (the trace of their covariance);
# * its **signal-to-noise ratio** and, most tangibly, how often a batch of 10 episodes (about the size of a
#   2,000-step rollout) points in roughly the right direction.
#
# Design choices that make the comparison fair:
#
# * $\gamma = 1$ in this section, so $J$ is simply the expected episode return (at most 500) and every estimator
#   of the first group targets exactly the same $\nabla_\theta J$.
# * The critic $V$ is fitted on **separate pilot episodes** (least squares on quadratic features of the state)
#   and then frozen. A baseline computed from the very episodes it is used on could correlate with their actions;
#   a fixed function cannot.
# * $J$ counts the return *up to the 500-step limit*, so for this objective the limit is a real end of the
#   task and the code records it as `terminated`. (When the limit is only a training convenience and the goal
#   is the unlimited return, as in 4.2, a cut episode is `truncated` and must be bootstrapped; which one is
#   right depends on the objective, not on the environment.)
# * Each of the $M$ copies of a vector env plays exactly one episode; steps after its end are masked out.
#   Actions are sampled with a `torch.Generator`, *not* with a numpy generator seeded like the environment
#   (section 8 shows why that matters).

# %%
class Episodes(NamedTuple):
    """M complete episodes, time-major and padded to the longest: obs (T, M, 4); actions, rewards, terminated,
    truncated (T, M) floats; valid (T, M) bool (False after an episode's end); final_obs (M, 4)."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    valid: torch.Tensor
    final_obs: torch.Tensor


def collect_episodes(theta: torch.Tensor, num_episodes: int, seed: int, max_steps: int = 500) -> Episodes:
    """Play one CartPole-v1 episode in each of ``num_episodes`` env copies with the logistic policy ``theta``."""
    envs = make_vec_env("CartPole-v1", num_episodes, seed)
    obs_np, _ = envs.reset(seed=seed)
    sampler = torch.Generator().manual_seed(seed)  # independent of the env's numpy generator
    M = num_episodes
    obs = torch.zeros(max_steps, M, 4)
    acts, rews, term, trunc = (torch.zeros(max_steps, M) for _ in range(4))
    valid = torch.zeros(max_steps, M, dtype=torch.bool)
    final_obs = torch.zeros(M, 4)
    alive = torch.ones(M, dtype=torch.bool)
    for t in range(max_steps):
        o = torch.as_tensor(obs_np)
        a = torch.bernoulli(prob_right(o, theta), generator=sampler)
        obs[t], acts[t], valid[t] = o, a, alive
        obs_np, r, te, tr, _ = envs.step(a.long().numpy())
        te, tr = torch.as_tensor(te) & alive, torch.as_tensor(tr) & alive
        rews[t] = torch.as_tensor(r) * alive
        term[t], trunc[t] = te.float(), tr.float()
        ended = te | tr
        final_obs[ended] = torch.as_tensor(obs_np)[ended]
        alive &= ~ended
        if not alive.any():
            break
    envs.close()
    T = t + 1
    return Episodes(obs[:T], acts[:T], rews[:T], term[:T], trunc[:T], valid[:T], final_obs)


pilot = collect_episodes(THETA, 2000, seed=SEED + 1)   # only for fitting the critic and the constant baseline
eps = collect_episodes(THETA, 8000, seed=SEED + 2)     # the measured episodes
lengths = eps.valid.sum(0).float()
print(f"{eps.valid.shape[1]} episodes, {int(lengths.sum())} steps; length mean {lengths.mean():.1f},"
      f"\n  std {lengths.std():.1f}, min {int(lengths.min())}, max {int(lengths.max())}; "
      f"cut by the 500-step limit: {eps.truncated.sum(0).mean():.1%}")


def limit_as_task_end(ep: Episodes) -> Episodes:
    """The same episodes with a time-limit cut recorded as a real end (terminated = 1, truncated = 0)."""
    return ep._replace(terminated=torch.maximum(ep.terminated, ep.truncated), truncated=torch.zeros_like(ep.truncated))


# J counts the return up to the limit, so for THIS objective the limit is a real end of the task: nothing after
# it is owed, and no estimator may bootstrap there (section 4.2 trains for the usual goal, where it must)
pilot, eps = limit_as_task_end(pilot), limit_as_task_end(eps)

# %%
def quad_features(obs: torch.Tensor) -> torch.Tensor:
    """(1, s, all products s_i s_j with i <= j): obs (..., 4) -> (..., 15), float64."""
    i, j = torch.triu_indices(4, 4)
    obs = obs.double()
    return torch.cat([torch.ones(obs.shape[:-1] + (1,), dtype=obs.dtype), obs, obs[..., i] * obs[..., j]], dim=-1)


def fit_critic(ep: Episodes, gamma: float) -> torch.Tensor:
    """Least-squares weights w (15,) of V(s) = quad_features(s) . w, regressed on the episodes' returns-to-go."""
    G = discounted_returns(ep.rewards, ep.terminated, ep.truncated, gamma)
    X, y = quad_features(ep.obs[ep.valid]), G[ep.valid].double()
    return torch.linalg.lstsq(X, y[:, None]).solution[:, 0]


def critic(obs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """V(s) = quad_features(s) . w, evaluated as w0 + w_lin . s + s^T W s without building the features.

    obs (..., 4) -> (...) float32.
    """
    w = w.float()
    i, j = torch.triu_indices(4, 4)
    W = torch.zeros(4, 4)
    W[i, j] = w[5:]
    return w[0] + obs @ w[1:5] + ((obs @ W) * obs).sum(-1)


def critic_values(ep: Episodes, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """V(s_t) and V(s_{t+1}) for every step, each (T, M) float32, 0 on padding.

    V(s_{t+1}) is the next row's value, except on an episode's last step where it is V(final observation).
    """
    v = critic(ep.obs, w) * ep.valid
    v_final = critic(ep.final_obs, w)
    last = (ep.terminated + ep.truncated) > 0
    next_v = torch.where(last, v_final.expand_as(v), torch.cat([v[1:], torch.zeros_like(v[:1])]))
    return v, next_v * ep.valid


w_critic = fit_critic(pilot, gamma=1.0)
v_eps, next_v_eps = critic_values(eps, w_critic)
G_eps = discounted_returns(eps.rewards, eps.terminated, eps.truncated, 1.0)
G_pilot = discounted_returns(pilot.rewards, pilot.terminated, pilot.truncated, 1.0)
ev_pilot = explained_variance(critic_values(pilot, w_critic)[0][pilot.valid], G_pilot[pilot.valid])
ev_eps = explained_variance(v_eps[eps.valid], G_eps[eps.valid])
print(f"critic's explained variance of the returns-to-go: pilot episodes {ev_pilot:.3f}, measured episodes {ev_eps:.3f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("The critic explains only a small part of the variance of $G_t$", bool(max(ev_pilot, ev_eps) < 0.25),
      f"explained variance {ev_pilot:.3f} (pilot), {ev_eps:.3f} (measured episodes), both below 0.25")

# %% [markdown]
# The critic explains only a small part of the variance of $G_t$. That is not a bad fit: with a policy this
# random, how long the pole stays up depends mostly on coin flips that have not happened yet, which no function
# of the current state can predict. Keep that in mind when reading the results.
#
# Now the estimators. Each is a per-step weight $\Psi_t$; one episode's gradient estimate is
# $\hat g = \sum_t \nabla_\theta \log \pi_\theta(a_t \mid s_t)\, \Psi_t$. The reference $\nabla_\theta J$ is the
# average of the $G_t - V(s_t)$ estimates over all episodes (the least noisy estimator that is unbiased by the
# argument of section 2).

# %%
# (M, T, 5), episode-major for the batched products below; zero on padding
scores_eps = (score(eps.obs, eps.actions) * eps.valid[..., None]).permute(1, 0, 2).contiguous()
b_const = G_pilot[pilot.valid].mean().item()                        # mean return-to-go of the pilot episodes
psi = {
    "total return G_0": G_eps[0].expand_as(G_eps),
    "reward-to-go G_t": G_eps,
    "G_t - 400 (poor constant)": G_eps - 400.0,
    f"G_t - {b_const:.0f} (mean, constant)": G_eps - b_const,
    "G_t - V(s_t)": G_eps - v_eps,
    "GAE lam=0.95": gae(eps.rewards, v_eps, next_v_eps, eps.terminated, eps.truncated, 1.0, 0.95).advantages,
    "TD error (lam=0)": gae(eps.rewards, v_eps, next_v_eps, eps.terminated, eps.truncated, 1.0, 0.0).advantages,
}
UNBIASED = list(psi)[:5]  # unbiased by section 2's argument; the last two trust the critic


def per_episode_gradients(scores: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """g_i = sum_t score_{t,i} * Psi_{t,i} for several estimators at once.

    scores (M, T, 5) (zero on padding), weights (E, T, M) -> (E, M, 5) float64.
    """
    # one batched matrix product per episode: (E, T) @ (T, 5)
    return torch.bmm(weights.permute(2, 0, 1).contiguous(), scores).transpose(0, 1).double()


class EstimatorStats(NamedTuple):
    """How one estimator behaves over M episodes (per-episode estimates g_i)."""

    along: float          # mean of g . u, u = unit vector along the reference gradient
    along_ci: float       # half-width of the 95% confidence interval of `along`
    bias_z: float         # largest |z| over the 5 weights of mean(g - g_rtg) (paired, same episodes)
    total_var: float      # tr Cov[g] per episode
    snr: float            # |mean g|^2 / tr Cov[g], per episode
    cos10: torch.Tensor   # cosine between each 10-episode average and the reference gradient, (M // 10,)


def estimator_stats(g, g_rtg, g_ref, batch=10):
    """Statistics of the per-episode estimates g (M, 5), against reward-to-go g_rtg and the reference g_ref."""
    M = g.shape[0]
    ref = g_ref.mean(0)
    along = g @ (ref / ref.norm())
    diff = g - g_rtg
    se = diff.std(0) / math.sqrt(M)
    bias_z = (diff.mean(0).abs() / se).max().item() if se.max() > 0 else 0.0
    mean = g.mean(0)
    total_var = g.var(0).sum().item()
    g_b = g.reshape(M // batch, batch, -1).mean(1)
    # reference without this batch's own episodes, so the two are independent
    ref_b = (ref * M - g_ref.reshape(M // batch, batch, -1).sum(1)) / (M - batch)
    cos = torch.nn.functional.cosine_similarity(g_b, ref_b, dim=1)
    return EstimatorStats(along.mean().item(), 1.96 * along.std().item() / math.sqrt(M), bias_z,
                          total_var, (mean @ mean).item() / total_var, cos)


g_all = dict(zip(psi, per_episode_gradients(scores_eps, torch.stack(list(psi.values())) * eps.valid)))
stats = {name: estimator_stats(g, g_all["reward-to-go G_t"], g_all["G_t - V(s_t)"]) for name, g in g_all.items()}
ref_grad = g_all["G_t - V(s_t)"].mean(0)
print("reference gradient (one number per weight):", [round(x, 1) for x in ref_grad.tolist()],
      f" norm {ref_grad.norm():.1f}")
var0 = stats["total return G_0"].total_var
print("\n'along ref' = mean of g along the reference gradient, ± its 95% CI")
print(f"{'estimator':26} {'along ref ± CI':>15} {'bias |z|':>8} {'variance':>10} {'vs G_0':>7} "
      f"{'SNR':>7} {'cos(10 ep.)':>11} {'cos > 0':>8}")
for name, s in stats.items():
    z = "  —" if name == "reward-to-go G_t" else f"{s.bias_z:8.1f}"
    print(f"{name:26} {s.along:7.1f} ± {s.along_ci:5.1f} {z:>8} {s.total_var:10.3g} {s.total_var / var0:7.3f} "
          f"{s.snr:7.4f} {s.cos10.mean():11.3f} {(s.cos10 > 0).float().mean():8.1%}")

# %%
names = list(stats)
colors = ["#0072B2" if n in UNBIASED else "#D55E00" for n in names]
y = np.arange(len(names))[::-1]
fig, axes = plt.subplots(1, 3, figsize=(12, 4.0), sharey=True)
ax = axes[0]
for yi, n, col in zip(y, names, colors):
    ax.errorbar(stats[n].along, yi, xerr=stats[n].along_ci, fmt="o", color=col, capsize=3)
ax.axvline(ref_grad.norm().item(), color="k", lw=1, ls="--")
ax.set_yticks(y, names)
ax.set_xlabel("mean estimate along the reference\n(± 95% CI; dashed: reference)")
axes[1].barh(y, [stats[n].total_var for n in names], color=colors)
axes[1].set_xscale("log")
axes[1].set_xlabel("variance of one episode's estimate\n(trace of covariance, log scale)")
axes[2].boxplot([stats[n].cos10.numpy() for n in names], positions=y, orientation="horizontal", widths=0.6,
                showfliers=False, manage_ticks=False)
axes[2].axvline(0.0, color="k", lw=1)
axes[2].set_xlabel("cosine(10-episode estimate, reference)\n(1 = right direction, 0 = orthogonal)")
fig.suptitle("Gradient estimators for one fixed CartPole policy (blue: unbiased by construction; "
             "orange: trusts the critic)", fontsize=10)
plt.tight_layout()
plots.show(fig, alt="Three panels comparing gradient estimators for one fixed CartPole policy, one row per "
                    "estimator: the mean estimate along a reference gradient with its 95% CI, the variance "
                    "of one episode's estimate on a log scale, and box plots of the cosine between a "
                    "10-episode estimate and the reference.")
for n in names:
    verdict = "no bias detectable" if stats[n].bias_z < 3 else "BIASED: its mean differs from reward-to-go's"
    if n != "reward-to-go G_t":
        print(f"{n:30} |z| = {stats[n].bias_z:5.1f}  ->  {verdict}")

# %% tags=["claim"] jupyter={"source_hidden": true}
blue = {n: stats[n] for n in UNBIASED}
variance = {n: s.total_var for n, s in stats.items()}
td, lam95, rtg, g0 = "TD error (lam=0)", "GAE lam=0.95", "reward-to-go G_t", "total return G_0"
const_mean, const_poor, with_v = f"G_t - {b_const:.0f} (mean, constant)", "G_t - 400 (poor constant)", "G_t - V(s_t)"
claim("The five blue rows ...: their means overlap within their error bars, and no bias is detectable",
      bool(max(s.along - s.along_ci for s in blue.values()) < min(s.along + s.along_ci for s in blue.values())
           and all(s.bias_z < 3 for s in blue.values())),
      f"95% intervals {[(round(s.along - s.along_ci), round(s.along + s.along_ci)) for s in blue.values()]}; "
      f"largest |z| {max(s.bias_z for s in blue.values()):.1f} < 3")
spread = max(variance[n] for n in blue) / min(variance[n] for n in blue)
claim("Their *variances* differ by large factors", bool(spread > 10),
      f"largest / smallest variance among them: {spread:.1f} > 10")
claim("**Causality** (using $G_t$ instead of $G_0$) is the first big saving", bool(variance[rtg] / variance[g0] < 0.5),
      f"variance of G_t / variance of G_0 = {variance[rtg] / variance[g0]:.3f} < 0.5")
claim("A sensible baseline (the mean return, better still $V(s_t)$) removes more",
      bool(variance[with_v] < variance[const_mean] < variance[rtg]),
      f"variance {variance[with_v]:.3g} (V) < {variance[const_mean]:.3g} (mean) < {variance[rtg]:.3g} (G_t)")
claim("The **poor constant** shows the other side: still unbiased, but with *more* variance than no baseline at all",
      bool(variance[const_poor] > variance[rtg] and stats[const_poor].bias_z < 3),
      f"variance {variance[const_poor]:.3g} (G_t - 400) > {variance[rtg]:.3g} (G_t, no baseline); "
      f"|z| {stats[const_poor].bias_z:.1f}")
claim("the TD row: the lowest variance and the best batch directions in the table",
      bool(variance[td] == min(variance.values())
           and stats[td].cos10.mean() == max(s.cos10.mean() for s in stats.values())),
      f"variance {variance[td]:.3g}, mean cosine {stats[td].cos10.mean():.3f}")
claim("and a mean that sits away from the others, by more than its error bar; ... this bias is large enough to detect",
      bool(stats[td].bias_z > 3
           and abs(stats[td].along - stats[with_v].along) > stats[td].along_ci + stats[with_v].along_ci),
      f"TD mean {stats[td].along:.1f} ± {stats[td].along_ci:.1f} vs G_t - V {stats[with_v].along:.1f} ± "
      f"{stats[with_v].along_ci:.1f}; |z| = {stats[td].bias_z:.1f} > 3")
claim("GAE($\\lambda = 0.95$) sits in between: less variance than $G_t - V(s_t)$, more than TD, and no bias this "
      "test can detect", bool(variance[td] < variance[lam95] < variance[with_v] and stats[lam95].bias_z < 3),
      f"variance {variance[td]:.3g} (TD) < {variance[lam95]:.3g} (GAE) < {variance[with_v]:.3g} (G_t - V); "
      f"|z| {stats[lam95].bias_z:.1f} < 3")

# %% [markdown]
# **How to read it.** The bias column compares each estimator's mean with reward-to-go's mean, episode by
# episode (a paired test, which is much sharper than comparing two separate averages), and reports the largest
# $|z|$ over the five weights. For an unbiased estimator it is the largest of five roughly standard-normal
# numbers, usually below 3; the verdicts above use that threshold.
#
# * The five blue rows are unbiased by section 2's argument, and the measurement agrees: their means overlap
#   within their error bars, and no bias is detectable. Their *variances* differ by large factors (column
#   "vs G_0").
# * **Causality** (using $G_t$ instead of $G_0$) is the first big saving: it removes the rewards an action
#   could not have influenced.
# * A sensible baseline (the mean return, better still $V(s_t)$) removes more. The **poor constant** shows the
#   other side: still unbiased, but with *more* variance than no baseline at all.
# * The orange rows **trust the critic**. Look at the TD row: the lowest variance and the best batch directions
#   in the table, and a mean that sits away from the others, by more than its error bar; with this many episodes
#   this bias is large enough to detect (the verdict line). GAE($\lambda = 0.95$) sits in between: less
#   variance than $G_t - V(s_t)$, more than TD, and no bias this test can detect. Which matters more, bias or
#   variance, depends on how many episodes each update averages: the explorer in section 5 lets you vary
#   exactly that.
#
# > **Common misconception.** "A baseline is something subtracted from the reward to reduce variance." Two
# > corrections. (1) It is subtracted from the *return* (or $Q$) that weights $\nabla \log \pi$, not from
# > each reward: subtracting $b$ from every reward changes the return by $b$ times
# > the remaining episode length, which changes what the agent is paid for (in CartPole it could make
# > surviving worthless). (2) A baseline is always *unbiased*, but it only reduces variance when it is close to
# > the returns it is subtracted from; the poor-constant row of the table above (section 4.1) has more
# > variance than no baseline. $V^\pi$
# > is a good choice, though not the variance-optimal one (Greensmith, Bartlett and Baxter 2004).

# %% [markdown]
# ### 4.2 Learning curves over seeds
#
# Does lower variance make learning faster? Four learners on CartPole-v1 from `course_lib.algos`, five seeds
# each: REINFORCE without and with a learned baseline (`reinforce.py`: long rollouts of 4 × 256 steps, only
# finished episodes are used, one gradient step per rollout), and the actor-critic of `a2c.py` (8 envs × 8
# steps, one step per rollout) with TD-error advantages (GAE with $\lambda = 0$) or GAE($\lambda = 0.95$).
# Within each pair only the compared switch differs, and all four weight $\log \pi$ by raw advantages (the
# library's A2C normalises them by default; that trick is notebook 06's subject). The runs take several
# minutes, so they were made once by `notebooks/scripts/nb03_learning_curves.py` and stored in `notebooks/data/nb03_learning_curves.json`, with
# the settings, seeds and code they came from (`make data nb03_learning_curves` makes them again). Loading
# refuses the file if the script's settings or the library code it ran have changed since.
#
# Each line is the mean over the five seeds; each band is the **95 % bootstrap confidence interval of that
# mean** (section 4.3 says why that, and not the range of the seeds).

# %%
stored = stored_results.load("nb03_learning_curves")
curves = stored.data
grid = np.array(curves["grid_env_steps"], dtype=float)
LABELS = list(curves["methods"])
REINFORCE_, BASELINE_, TD_, GAE_ = LABELS  # the two pairs: (REINFORCE, + baseline), (TD, GAE)


def as_array(values: list) -> np.ndarray:
    """A JSON list with nulls -> float array with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def seed_matrix(label: str, column: str) -> np.ndarray:
    """(seeds, grid points) array of one stored column of learner ``label``; NaN where a seed has no value yet."""
    return np.stack([as_array(r[column]) for r in curves["methods"][label]["runs"]])


def plot_mean_ci(ax, Y: np.ndarray, label: str, color: str) -> None:
    """Mean over seeds (rows of Y) and its 95% bootstrap CI, at the grid points where every seed has a value."""
    ok = np.all(np.isfinite(Y), axis=0)
    ci = bootstrap_ci(Y[:, ok])
    ax.plot(grid[ok], ci.estimate, color=color, label=f"{label} (n={len(Y)})")
    ax.fill_between(grid[ok], ci.low, ci.high, color=color, alpha=0.2, linewidth=0)


n_seeds = len(stored.config["seeds"])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for color, label in zip(plots.PALETTE, LABELS):
    plot_mean_ci(axes[0], seed_matrix(label, "return_mean_20"), label, color)
    if label != REINFORCE_:  # REINFORCE without a baseline has no critic
        plot_mean_ci(axes[1], seed_matrix(label, "explained_variance"), label, color)
axes[0].set_xlabel("env steps")
axes[0].set_ylabel("mean return of last 20 episodes")
axes[0].axhline(475, color="k", lw=0.8, ls=":")
axes[0].legend(fontsize=8)
axes[1].set_xlabel("env steps")
axes[1].set_ylabel("critic's explained variance (per batch)")
axes[1].set_ylim(-1, 1)
axes[1].legend(fontsize=8)
fig.suptitle(f"CartPole-v1 (line: mean over seeds; band: 95 % bootstrap CI over {n_seeds} seeds)", fontsize=10)
plt.tight_layout()
plots.show(fig, alt="Training on CartPole-v1 with each advantage estimator: mean return of the last 20 "
                    "episodes with a dotted line at 475 (left) and the critic's explained variance per batch "
                    "(right), against env steps.")

EARLY = 30_000
early_i = int(np.argmin(np.abs(grid - EARLY)))
last_third = grid >= 2 * grid[-1] / 3
early = {label: seed_matrix(label, "return_mean_20")[:, early_i] for label in LABELS}
final = {label: np.array([r["final_return_mean_20"] for r in curves["methods"][label]["runs"]]) for label in LABELS}
ev_late = {label: np.nanmean(seed_matrix(label, "explained_variance")[:, last_third], axis=1)
           for label in LABELS[1:]}
ci = {(what, label): bootstrap_ci(values[label]) for what, values in
      (("early", early), ("final", final), ("ev", ev_late)) for label in values}


def fmt(c, digits: int = 0) -> str:
    """'estimate [low, high]' of a CI."""
    return f"{c.estimate:.{digits}f} [{c.low:.{digits}f}, {c.high:.{digits}f}]"


print(f"mean over {n_seeds} seeds [95% bootstrap CI]; 'early' = return at {int(grid[early_i]):,} env steps")
print(f"{'learner':28} {'early':>16} {'final return':>15} "
      f"{'seeds ≥ 475':>11} {'critic EV, last third':>22}")
for label in LABELS:
    hits = sum(r["steps_to_475"] is not None for r in curves["methods"][label]["runs"])
    ev_text = fmt(ci["ev", label], 2) if label in ev_late else "—"
    print(f"{label:28} {fmt(ci['early', label]):>16} {fmt(ci['final', label]):>15} {hits:>9}/{n_seeds} "
          f"{ev_text:>22}")

# %% [markdown]
# **Read the pairs** (compare *within* a pair, since the two families differ in rollout length and number of
# updates).
#
# * **REINFORCE with and without a baseline.** A learned baseline can only remove the variance its critic
#   explains, and here the critic learns slowly (one gradient step per 1,024 env steps, on raw returns in the
#   hundreds): its explained variance stays near 0 over the last third of training. The central experiment
#   showed what a *fitted* critic buys; during training you get it only as fast as the critic learns. The
#   baseline run ends higher on average, but the two confidence intervals overlap: five seeds do not establish
#   an effect here.
# * **TD error vs GAE($\lambda = 0.95$).** At the early checkpoint the GAE learner is far ahead, with
#   confidence intervals that do not overlap. The TD learner's advantages are *all* critic, and an untrained
#   critic is wrong, so its updates are biased exactly when learning starts (section 5, critic scale near 0,
#   shows the same thing in miniature); GAE leans mostly on real rewards and suffers much less. By the end of
#   training GAE is still ahead, but only just: its interval of the final return lies above TD's with little
#   room between them.
# * **A diagnostic that flatters.** The TD learner's explained variance is the highest of all, and that does
#   *not* mean its critic is the best: explained variance compares $V$ with the value *targets*, and TD's
#   targets $r_t + \gamma V(s_{t+1})$ are made from $V$ itself. With GAE the targets contain real rewards, so
#   its explained variance is a more honest (and humbler) number.

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("its explained variance stays near 0 over the last third of training",
      bool(abs(ci["ev", BASELINE_].estimate) < 0.1 and ci["ev", BASELINE_].high < 0.1),
      f"REINFORCE + baseline, critic EV in the last third: {fmt(ci['ev', BASELINE_], 3)}")
claim("The baseline run ends higher on average, but the two confidence intervals overlap",
      bool(final[BASELINE_].mean() > final[REINFORCE_].mean() and ci["final", BASELINE_].low < ci["final", REINFORCE_].high),
      f"final return {fmt(ci['final', BASELINE_])} (baseline) vs {fmt(ci['final', REINFORCE_])} (none)")
claim("At the early checkpoint the GAE learner is far ahead, with confidence intervals that do not overlap",
      bool(ci["early", GAE_].low > ci["early", TD_].high),
      f"return at {int(grid[early_i]):,} steps: GAE {fmt(ci['early', GAE_])} vs TD {fmt(ci['early', TD_])}")
claim("By the end of training GAE is still ahead, but only just: its interval of the final return lies above TD's",
      bool(ci["final", GAE_].low > ci["final", TD_].high and ci["final", GAE_].low - ci["final", TD_].high < 50),
      f"final return GAE {fmt(ci['final', GAE_])} vs TD {fmt(ci['final', TD_])}")
claim("The TD learner's explained variance is the highest of all",
      bool(all(ci["ev", TD_].low > ci["ev", other].high for other in (BASELINE_, GAE_))),
      f"critic EV, last third: TD {fmt(ci['ev', TD_], 2)}, GAE {fmt(ci['ev', GAE_], 2)}, "
      f"REINFORCE + baseline {fmt(ci['ev', BASELINE_], 2)}")

# %% [markdown]
# **Instability.** Do the actor-critics keep what they learn? The table below follows each seed: its best
# 20-episode mean, the lowest it fell to afterwards, and its final value.

# %%
HIGH = 400.0  # "high returns": a 20-episode mean of at least this
peaks, lows = {}, {}
for label in (TD_, GAE_):
    Y = seed_matrix(label, "return_mean_20")
    peaks[label], lows[label] = [], []
    print(label)
    for seed, y in zip(stored.config["seeds"], Y):
        peak_i = int(np.nanargmax(y))
        peaks[label].append(float(y[peak_i]))
        lows[label].append(float(np.nanmin(y[peak_i:])))
        print(f"  seed {seed}: best {y[peak_i]:5.0f} at {int(grid[peak_i]):>7,} steps, lowest after it "
              f"{lows[label][-1]:5.0f} ({1 - lows[label][-1] / y[peak_i]:4.0%} below the best), final {y[-1]:5.0f}")
    peaks[label], lows[label] = np.array(peaks[label]), np.array(lows[label])
n_gae_collapsed = int(np.sum((peaks[GAE_] >= HIGH) & (lows[GAE_] < 0.5 * peaks[GAE_])))
n_td_fell = int(np.sum(lows[TD_] < 0.6 * peaks[TD_]))
display(Markdown(
    f"Of the {n_seeds} GAE seeds, **{n_gae_collapsed}** reach a 20-episode mean of {HIGH:.0f} or more and later "
    f"lose more than half of it. No TD seed gets that high (the best reaches {peaks[TD_].max():.0f}), yet "
    f"**{n_td_fell}** of the TD seeds also fall more than 40 % below their best."))

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Several GAE seeds reach high returns and then lose more than half of it; no TD seed gets that high, yet "
      "several TD seeds also fall more than 40 % below their best",
      bool(n_gae_collapsed >= 2 and peaks[TD_].max() < HIGH and n_td_fell >= 2),
      f"GAE seeds with best ≥ {HIGH:.0f} then below half of it: {n_gae_collapsed}/{n_seeds}; TD best "
      f"{peaks[TD_].max():.0f}; TD seeds more than 40 % below their best: {n_td_fell}/{n_seeds}")

# %% [markdown]
# Falling back is not a quirk of one advantage estimator: both actor-critics lose ground they had gained, and
# GAE's collapses only look more dramatic because it got high first. Plain A2C takes one unconstrained step per
# small batch, and nothing stops a step from moving the policy too far. That is the failure PPO's clipped
# objective (notebook 04) and trust regions (notebook 05) address.
#
# **Is the file really from this code?** `stored_results.load` has already checked the settings and the
# library's code. The script also stored its *prefix*: the first updates of REINFORCE with a baseline and of
# GAE($\lambda = 0.95$), seed 0, row by row. Rerunning them here (a few seconds) must reproduce them on a CPU;
# if not, the next cell fails with "stale: run `make data nb03_learning_curves`".

# %%
script = stored_results.load_script("nb03_learning_curves")
live_prefix = script.prefix(stored.config)
stored_results.assert_same_prefix(stored, live_prefix)
print("the first updates of", " and ".join(live_prefix))
print("reproduce the stored prefix:",
      {label: len(rows) for label, rows in live_prefix.items()}, "updates")

# %% [markdown]
# ### 4.3 How many seeds, and how to report them
#
# A deep RL run is a random experiment: the seed decides the network's initial weights, the start states and
# every sampled action, and two seeds of the same code can end far apart (the GAE seeds above end anywhere
# between a collapsed and a perfect policy). **Henderson et al. (2018)** showed how far this goes: the same
# algorithm with the same settings, run on two groups of five seeds, produced average learning curves that
# differed significantly, so a comparison over a handful of seeds can "show" a difference that is only luck.
# **Agarwal et al. (2021)** found that many published conclusions changed once the uncertainty of the few-run
# estimates was taken into account, and recommended reporting **interval estimates**: a bootstrap confidence
# interval of an aggregate score, with the **interquartile mean** (IQM, the mean of the middle 50 % of runs)
# as a robust alternative to the mean.
#
# The course therefore compares methods over **at least five seeds**, with a **95 % bootstrap confidence
# interval** of the mean (or of the IQM), `course_lib.stats.bootstrap_ci`: resample the seeds with replacement
# many times, recompute the statistic each time, and keep the middle 95 % of the results. What is wrong with
# the older habit, a min–max band over three seeds? The band shows where the runs were, not how well the mean
# is known; it is set by the two most extreme runs, and it grows (never shrinks) as seeds are added. The cell
# below puts the stored final returns of section 4.2 through both, first with seeds 0–2 only, as if only three
# had been run, then with all five.

# %%
def ci_text(c) -> str:
    """'[low, high]' of a CI, rounded."""
    return f"[{c.low:.0f}, {c.high:.0f}]"


seed_cis = {label: {"3": bootstrap_ci(v[:3]), "5": bootstrap_ci(v), "iqm": bootstrap_ci(v, statistic="iqm")}
            for label, v in final.items()}
print(f"final return (mean of the last 20 episodes) per seed, and four ways to summarise it")
print(f"{'learner':28} {'seeds 0-4':>30}")
for label, v in final.items():
    print(f"{label:28} {' '.join(f'{x:5.0f}' for x in v):>30}")
print(f"\n{'learner':28} {'3 seeds: range':>14} {'3: 95% CI':>11} {'5 seeds: range':>14} "
      f"{'5: 95% CI':>11} {'5: IQM, 95% CI':>17}")
for label, v in final.items():
    c = seed_cis[label]
    print(f"{label:28} {f'[{v[:3].min():.0f}, {v[:3].max():.0f}]':>14} "
          f"{ci_text(c['3']):>11} {f'[{v.min():.0f}, {v.max():.0f}]':>14} {ci_text(c['5']):>11} "
          f"{c['iqm'].estimate:5.0f} {ci_text(c['iqm']):>11}")

fig, ax = plt.subplots(figsize=(10, 3.4))
for k, (label, color) in enumerate(zip(LABELS, plots.PALETTE)):
    v, c = final[label], seed_cis[label]
    ax.scatter(np.full(len(v), k - 0.25), v, color=color, s=14, label="one seed" if k == 0 else None)
    for dx, key, marker, name in ((-0.05, "3", "s", "mean, 95% CI, seeds 0-2"), (0.1, "5", "o", "mean, 95% CI, 5 seeds"),
                                  (0.25, "iqm", "D", "IQM, 95% CI, 5 seeds")):
        ax.errorbar(k + dx, c[key].estimate, yerr=[[c[key].estimate - c[key].low], [c[key].high - c[key].estimate]],
                    fmt=marker, color=color, mfc="white" if key == "3" else color, capsize=3,
                    label=name if k == 0 else None)
ax.set_xticks(range(len(LABELS)), LABELS, fontsize=8)
ax.set_ylabel("final return")
ax.legend(fontsize=8, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
plt.tight_layout()
plots.show(fig, alt="Final return of each method: one dot per seed, then the mean with its 95% CI from seeds "
                    "0-2, the mean from 5 seeds and the interquartile mean from 5 seeds, showing how the "
                    "estimate and its interval move with the number of seeds.")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("the GAE seeds above end anywhere between a collapsed and a perfect policy",
      bool(final[GAE_].min() < 100 and final[GAE_].max() >= 500), f"GAE final returns {final[GAE_]}")
claim("With three seeds the 95 % bootstrap interval of the mean is exactly the range of the three seeds",
      bool(all(abs(seed_cis[l]["3"].low - v[:3].min()) < 1e-9 and abs(seed_cis[l]["3"].high - v[:3].max()) < 1e-9
               for l, v in final.items())),
      "; ".join(f"{l}: CI {ci_text(seed_cis[l]['3'])} vs range [{v[:3].min():.0f}, {v[:3].max():.0f}]"
                for l, v in final.items()))
claim("with five, the interval lies strictly inside the range",
      bool(all(v.min() < seed_cis[l]["5"].low and seed_cis[l]["5"].high < v.max() for l, v in final.items())),
      "; ".join(f"{l}: CI {ci_text(seed_cis[l]['5'])} vs range [{v.min():.0f}, {v.max():.0f}]" for l, v in final.items()))

# %% [markdown]
# Read the table and the plot:
#
# * **With three seeds, the "95 % confidence interval" is just the min–max band.** Each of the three seeds is
#   resampled three times in a row with probability $1/27 \approx 3.7\,\%$, more than the 2.5 % cut at each end,
#   so the interval runs from the worst seed to the best. Three runs cannot say more than "somewhere between
#   these", and that is why the course's floor is five: with five the interval lies strictly inside the range,
#   and it narrows further with every seed added (roughly as $1/\sqrt{n}$), while the range only widens.
# * **Three seeds can mislead.** The next cell takes every way of picking three of the five seeds for each
#   learner of a pair (10 × 10 possible three-seed experiments) and looks at the gain each of them would have
#   reported, and at how often the two three-seed intervals would not have overlapped.

# %%
def three_seed_experiments(a: np.ndarray, b: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """For every pair of k-seed subsets of a and b: (mean of a - mean of b, whether a's k-seed 95% CI -- its range,
    as shown above -- lies entirely above b's)."""
    picks = [list(i) for i in itertools.combinations(range(len(a)), k)]
    gain = np.array([a[i].mean() - b[j].mean() for i in picks for j in picks])
    separated = np.array([a[i].min() > b[j].max() for i in picks for j in picks])
    return gain, separated


experiments = {pair: three_seed_experiments(final[pair[0]], final[pair[1]])
               for pair in ((BASELINE_, REINFORCE_), (GAE_, TD_))}
for (a, b), (gain, separated) in experiments.items():
    print(f"{a} minus {b}: five seeds {final[a].mean() - final[b].mean():+.0f};\n  three-seed experiments "
          f"{gain.min():+.0f} to {gain.max():+.0f}, reversed in {np.mean(gain < 0):.0%}, "
          f"intervals separate in {np.mean(separated):.0%}")
gain_b, sep_b = experiments[BASELINE_, REINFORCE_]
gain_g, _ = experiments[GAE_, TD_]
display(Markdown(
    f"Depending on which three seeds had been run, the baseline's gain in final return would have been measured "
    f"anywhere from **{gain_b.min():+.0f} to {gain_b.max():+.0f}** (five seeds: "
    f"{final[BASELINE_].mean() - final[REINFORCE_].mean():+.0f}); {np.mean(gain_b < 0):.0%} of those experiments "
    f"rank the pair the wrong way round, and in **{np.mean(sep_b):.0%}** the two three-seed intervals do not even "
    f"overlap: a clear-looking result that five seeds do not support. GAE's lead over TD has the right sign in "
    f"every three-seed experiment, but its size varies from {gain_g.min():+.0f} to {gain_g.max():+.0f}."))

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Three seeds can mislead: the baseline's measured gain changes sign across three-seed experiments, and some "
      "of them show separate intervals that five seeds do not support",
      bool(gain_b.min() < 0 < gain_b.max() and sep_b.any()
           and ci["final", BASELINE_].low < ci["final", REINFORCE_].high),
      f"three-seed gains {gain_b.min():+.0f} to {gain_b.max():+.0f}, separated in {np.mean(sep_b):.0%}; five-seed "
      f"CIs {fmt(ci['final', BASELINE_])} vs {fmt(ci['final', REINFORCE_])}")
claim("GAE's lead over TD has the right sign in every three-seed experiment, but its size varies",
      bool(gain_g.min() > 0 and gain_g.max() > 2 * gain_g.min()),
      f"three-seed gains {gain_g.min():+.0f} to {gain_g.max():+.0f}")

# %% [markdown]
# * **Five seeds are a floor, not a guarantee.** For the REINFORCE pair the confidence intervals of the final
#   return overlap (section 4.2's claims check that): with this spread between seeds, five runs do not decide the
#   comparison, and the honest report says so rather than picking the better-looking mean. The early returns of
#   TD and GAE differ by far more than their spread, and there five seeds are plenty.
# * **Mean or IQM.** The IQM drops the best and worst quarter of the runs, so one collapsed seed moves it less
#   than the mean. For GAE, whose seed 0 collapsed, the IQM is above the mean. With only five
#   seeds the IQM averages little more than the middle three, so its interval is not narrower here; its
#   advantage shows with many runs (Agarwal et al. pool runs across many tasks).

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("For GAE, whose seed 0 collapsed, the IQM is above the mean",
      bool(seed_cis[GAE_]["iqm"].estimate > final[GAE_].mean() and final[GAE_][0] == final[GAE_].min()),
      f"GAE final returns {final[GAE_].round(0)}: IQM {seed_cis[GAE_]['iqm'].estimate:.0f} > mean {final[GAE_].mean():.0f}")
claim("With only five seeds ... its interval is not narrower here",
      bool(np.ptp([seed_cis[GAE_]["iqm"].low, seed_cis[GAE_]["iqm"].high]) >= np.ptp([seed_cis[GAE_]["5"].low, seed_cis[GAE_]["5"].high])),
      f"GAE: IQM CI {ci_text(seed_cis[GAE_]['iqm'])}, mean CI {ci_text(seed_cis[GAE_]['5'])}")

# %% [markdown]
# ## 5. Explore: $\gamma$, $\lambda$ and the critic
#
# The explorer shows GAE on the episodes of section 4.1.
#
# * **Left:** the advantages $\hat A_t$ along one fixed episode for your $\gamma$ and $\lambda$, with the
#   TD error ($\lambda = 0$) and $G^\gamma_t - V(s_t)$ ($\lambda = 1$) for comparison. A critic is fitted for
#   each $\gamma$ on the pilot episodes.
# * **Right:** for the gradient of the *undiscounted* $J$ (the task we actually care about), the squared bias
#   and the variance of a batch estimate over $B$ episodes, as a function of $\lambda$, and their sum, the mean
#   squared error. The dotted line is the smallest squared bias these 2,000 episodes can detect.
# * **critic scale** multiplies the critic's values: 1 is the fitted critic, 0 is no critic at all (then the TD
#   error is just the reward), values in between are a poor critic like one early in training.
#
# Precomputing the right panel takes a few seconds (GAE for every $\lambda$ at once, per $\gamma$); moving a
# slider then only redraws.

# %%
GAMMAS = (0.9, 0.95, 0.98, 0.99, 1.0)
LAMS = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 1.0)
M_X = 2000  # episodes used by the explorer (the first 2000 of section 4.1)


def gae_many_lams(delta, not_done, gamma, lams):
    """GAE for several lambdas at once: delta, not_done (T, M) -> advantages (M, L, T).

    A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}, vectorised over lam.
    """
    lam = torch.tensor(lams)[:, None]
    out = torch.empty(delta.shape[1], len(lams), delta.shape[0])
    next_adv = torch.zeros(len(lams), delta.shape[1])
    for t in reversed(range(delta.shape[0])):
        # A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
        next_adv = delta[t] + gamma * lam * not_done[t] * next_adv
        out[:, :, t] = next_adv.T
    return out


ex = Episodes(*(x[:, :M_X] for x in eps[:-1]), eps.final_obs[:M_X])
sc_x = scores_eps[:M_X]                                      # (M, T, 5)
g_ref_x = g_all["G_t - V(s_t)"][:M_X]                                 # unbiased reference, per episode
not_done_x = 1.0 - torch.maximum(ex.terminated, ex.truncated)
critics = {g: fit_critic(pilot, g) for g in GAMMAS}


class GridStats(NamedTuple):
    """Per (gamma, lam): the pieces of bias^2 and variance as quadratics in the critic scale c.

    The advantage is linear in c: A(c) = A_r + c * A_v (A_r from the rewards, A_v from the critic's terms), so the
    per-episode gradient is g(c) = g_r + c * g_v and d(c) = g(c) - g_ref. Arrays (G, L, 5) for means, (G, L) else.
    """

    mean_dr: torch.Tensor   # mean of g_r - g_ref
    mean_v: torch.Tensor    # mean of g_v
    var_dr: torch.Tensor    # tr Cov(g_r - g_ref)
    cov_dv: torch.Tensor    # tr Cov(g_r - g_ref, g_v)
    var_r: torch.Tensor     # tr Cov(g_r)
    cov_rv: torch.Tensor    # tr Cov(g_r, g_v)
    var_v: torch.Tensor     # tr Cov(g_v)


def trace_cov(a, b):
    """tr Cov(a, b) for per-episode rows a, b (..., M, 5) -> (...)."""
    a, b = a - a.mean(-2, keepdim=True), b - b.mean(-2, keepdim=True)
    return (a * b).sum((-2, -1)) / (a.shape[-2] - 1)


parts = {k: [] for k in GridStats._fields}
for gm in GAMMAS:
    v, next_v = critic_values(ex, critics[gm])
    # delta(c) = r_t + c * (gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t))
    delta_r = ex.rewards * ex.valid
    delta_v = (gm * next_v * (1.0 - ex.terminated) - v) * ex.valid
    # per-episode gradients sum_t score_t * A_t for every lambda: (M, L, T) @ (M, T, 5) -> (L, M, 5)
    g_r = torch.bmm(gae_many_lams(delta_r, not_done_x, gm, LAMS), sc_x).transpose(0, 1).double()
    g_v = torch.bmm(gae_many_lams(delta_v, not_done_x, gm, LAMS), sc_x).transpose(0, 1).double()
    d_r = g_r - g_ref_x
    for k, val in zip(GridStats._fields, (d_r.mean(1), g_v.mean(1), trace_cov(d_r, d_r), trace_cov(d_r, g_v),
                                          trace_cov(g_r, g_r), trace_cov(g_r, g_v), trace_cov(g_v, g_v))):
        parts[k].append(val)
grid_stats = GridStats(**{k: torch.stack(v) for k, v in parts.items()})

# check the vectorised GAE against course_lib's on one (gamma, lam) pair
v99, nv99 = critic_values(ex, critics[0.99])
lib_adv = gae(ex.rewards, v99, nv99, ex.terminated, ex.truncated, 0.99, 0.9).advantages * ex.valid
mine_adv = gae_many_lams(((ex.rewards + 0.99 * nv99 * (1 - ex.terminated)) - v99) * ex.valid, not_done_x, 0.99,
                         (0.9,))[:, 0].T * ex.valid
print(f"vectorised GAE vs course_lib.gae, max difference: {(lib_adv - mine_adv).abs().max():.1e}")


def bias_variance(gi: int, c: float, batch: int):
    """(bias^2, variance of a batch of `batch` episodes, detection floor) over LAMS for GAMMAS[gi], critic scale c."""
    s = grid_stats
    mean_d = s.mean_dr[gi] + c * s.mean_v[gi]                            # (L, 5)
    var_d = s.var_dr[gi] + 2 * c * s.cov_dv[gi] + c**2 * s.var_v[gi]    # tr Cov(d), (L,)
    floor = var_d / M_X
    # unbiased estimate of |E d|^2: |mean d|^2 - tr Cov(d) / M
    bias2 = ((mean_d**2).sum(-1) - floor).clamp_min(0.0)
    var = (s.var_r[gi] + 2 * c * s.cov_rv[gi] + c**2 * s.var_v[gi]) / batch
    return bias2.numpy(), var.numpy(), floor.numpy()


lengths_x = ex.valid.sum(0)
episode_id = int((lengths_x - 150).abs().argmin())  # an episode of about 150 steps
traj_len = int(lengths_x[episode_id])
one = Episodes(*(x[:traj_len, episode_id] for x in ex[:-1]), ex.final_obs[episode_id])  # (T_i,) fields
one_values = {g: critic_values(Episodes(*(x[:, None] for x in one[:-1]), one.final_obs[None]), critics[g])
              for g in GAMMAS}


def trajectory_advantages(gamma, lam, c):
    """GAE advantages (T_i,) along the chosen episode for discount gamma, lambda lam and critic scale c."""
    v, next_v = (c * x[:, 0] for x in one_values[gamma])
    return gae(one.rewards, v, next_v, one.terminated, one.truncated, gamma, lam).advantages


def explore(gamma=0.99, lam=0.95, critic_scale=1.0, batch_episodes=10):
    gi, li = GAMMAS.index(gamma), LAMS.index(lam)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    t = np.arange(traj_len)
    ax1.plot(t, trajectory_advantages(gamma, 0.0, critic_scale), color="#D55E00", alpha=0.35, lw=1,
             label=r"TD error ($\lambda$=0)")
    ax1.plot(t, trajectory_advantages(gamma, 1.0, critic_scale), color="#009E73", alpha=0.35, lw=1,
             label=r"$G_t - V(s_t)$ ($\lambda$=1)")
    ax1.plot(t, trajectory_advantages(gamma, lam, critic_scale), color="#0072B2", lw=2,
             label=rf"GAE $\lambda$={lam}")
    ax1.axhline(0, color="k", lw=0.8)
    ax1.set_xlabel(f"step t of one episode ({traj_len} steps)")
    ax1.set_ylabel(r"advantage $\hat A_t$")
    ax1.legend(fontsize=8)
    bias2, var, floor = bias_variance(gi, critic_scale, batch_episodes)
    ax2.plot(LAMS, bias2, "o-", label="bias²")
    ax2.plot(LAMS, var, "s-", label=f"variance (batch of {batch_episodes} episodes)")
    ax2.plot(LAMS, bias2 + var, "k^-", label="mean squared error")
    ax2.plot(LAMS, floor, ":", color="gray", label="bias² detection floor")
    ax2.axvline(lam, color="#0072B2", lw=1)
    ax2.set_yscale("symlog", linthresh=10.0)
    # the y axis rescales with the curves: a decade and a half of room above the largest one for the legend
    ax2.set_ylim(0.0, 30.0 * max(float(np.max(bias2 + var)), float(np.max(floor)), 10.0))
    ax2.set_xlabel(r"$\lambda$")
    ax2.set_title(rf"error of the gradient of undiscounted $J$, $\gamma$={gamma}, critic scale {critic_scale}",
                  fontsize=10)
    ax2.legend(fontsize=8, ncols=2, loc="upper left")
    plt.tight_layout()
    plots.show(fig, alt=f"Explorer view for gamma = {gamma}, lambda = {lam}, critic scale {critic_scale}, a "
                        f"batch of {batch_episodes} episodes. Left: advantages along one {traj_len}-step "
                        "episode for the TD error, G_t - V(s_t) and GAE. Right: bias squared, variance and "
                        "mean squared error of the policy gradient against lambda on a symmetric log scale, "
                        f"with the bias detection floor dotted and lambda = {lam} marked.")
    best = int(np.argmin(bias2 + var))
    print(f"gamma={gamma}, lam={lam}, critic scale {critic_scale}, batch of {batch_episodes} episodes:\n"
          f"  bias² {bias2[li]:.4g}, variance {var[li]:.4g}, MSE {bias2[li] + var[li]:.4g}; "
          f"lowest MSE over lambda at lam={LAMS[best]} (MSE {bias2[best] + var[best]:.4g})")


# %% [markdown]
# The default view (the widget below starts here):

# %%
explore()

# %% tags=["claim"] jupyter={"source_hidden": true}
g1, g09, lam0, lam1 = GAMMAS.index(1.0), GAMMAS.index(0.9), LAMS.index(0.0), LAMS.index(1.0)
bias2_1, var_1, floor_1 = bias_variance(g1, 1.0, 10)
bias2_nocritic, _, _ = bias_variance(g1, 0.0, 10)
bias2_09, var_09, floor_09 = bias_variance(g09, 1.0, 10)
bias2_09_nocritic, _, _ = bias_variance(g09, 0.0, 10)
claim("Critic scale 1, $\\gamma = 1$: ... Bias² falls towards the detection floor while the variance grows",
      bool(bias2_1[lam1] < 0.1 * bias2_1[lam0] and bias2_1[lam1] < 3 * floor_1[lam1] and np.all(np.diff(var_1) > 0)),
      f"bias² {bias2_1[lam0]:.3g} (λ=0) -> {bias2_1[lam1]:.3g} (λ=1, floor {floor_1[lam1]:.3g}); "
      f"variance {var_1[lam0]:.3g} -> {var_1[lam1]:.3g}, increasing in λ")
claim("critic scale 0 ... an untrained critic's world, and why the TD learner of section 4.2 starts so slowly",
      bool(bias2_nocritic[lam0] > 10 * bias2_1[lam0]),
      f"bias² at λ = 0: {bias2_nocritic[lam0]:.3g} with no critic vs {bias2_1[lam0]:.3g} with the fitted one")
claim("Lower $\\gamma$ with $\\lambda = 1$: the variance drops, but a bias appears that no critic can remove",
      bool(var_09[lam1] < var_1[lam1] and bias2_09[lam1] > 10 * floor_09[lam1]
           and abs(bias2_09_nocritic[lam1] - bias2_09[lam1]) < 0.2 * bias2_09[lam1]),
      f"λ = 1: variance {var_1[lam1]:.3g} (γ=1) -> {var_09[lam1]:.3g} (γ=0.9); bias² {bias2_1[lam1]:.3g} -> "
      f"{bias2_09[lam1]:.3g} (floor {floor_09[lam1]:.3g}); with no critic {bias2_09_nocritic[lam1]:.3g}")

# %%
explorer = widgets.interactive(
    explore,
    gamma=widgets.SelectionSlider(options=GAMMAS, value=0.99, description="gamma"),
    lam=widgets.SelectionSlider(options=LAMS, value=0.95, description="lambda"),
    critic_scale=widgets.FloatSlider(value=1.0, min=0.0, max=1.5, step=0.25, description="critic scale"),
    batch_episodes=widgets.SelectionSlider(options=(1, 10, 100, 1000), value=10, description="batch (ep.)"),
)
display(explorer)

# %% [markdown]
# **Things to try.**
#
# 1. Critic scale 1, $\gamma = 1$: slide $\lambda$ from 0 to 1. Bias² falls towards the detection floor while
#    the variance grows. Which $\lambda$ has the lowest error for a batch of 10 episodes? For 1000?
# 2. Set the critic scale to 0 (no critic). Now $\lambda = 0$ weights every action by its reward, which is 1
#    everywhere in CartPole: what happens to the bias at small $\lambda$? This is an untrained critic's world,
#    and why the TD learner of section 4.2 starts so slowly.
# 3. Lower $\gamma$ with $\lambda = 1$: the variance drops, but a bias appears that no critic can remove,
#    because the *objective* changed. $\gamma$ is a bias-variance knob too, a blunter one.
# 4. On the left, compare the spread of the TD errors with that of $G_t - V(s_t)$ along the episode.

# %% [markdown]
# ## 6. Check your understanding
#
# Each question shows as a small form; pick an answer and press the button for feedback. Your score is kept
# for this notebook.

# %%
quiz.show("03.baseline_purpose")

# %%
quiz.show("03.baseline_unbiased")

# %%
quiz.show("03.gae_lambda")

# %%
quiz.show("03.gae_numeric")

# %%
quiz.show("03.gamma_horizon")

# %%
quiz.show("03.negative_advantage")

# %% [markdown]
# **A graded answer cell.** If your course is graded, answers go into cells like the next one: the first line
# names the question, and the cell assigns `answer` (a choice id such as `"b"`, a list of ids, or a number).
# The grader reads the saved notebook. The cell below is left unanswered (`answer = None`), which the grader
# scores 0 with the reason "not answered"; `quiz.check` prints why it cannot mark it instead of raising an
# error. Replace `None` with your number and run it.

# %%
# QUIZ: 03.gae_numeric
answer = None
quiz.check("03.gae_numeric", answer)

# %% [markdown]
# ## 7. Debug the bug
#
# Each exercise gives you a function with a bug, a checker that compares it with a reference on random inputs,
# a ladder of hints and a worked solution on request. Edit the function in its cell, run it, then run the check. The committed
# notebook shows the checker's **FAIL** on the shipped bug: that is expected, not an error.
#
# ### 7.1 Raw returns with no baseline
#
# This REINFORCE loss receives the critic's values and is meant to use them as a baseline, as its docstring
# says. Run the check first and read what it reports: which case fails, and how far the loss is from the
# expected value. Then ask two questions of the code: what weights each log-probability, and which networks
# this loss sends gradients to (section 3.2 measured what goes wrong when the critic gets some).

# %%
# EXERCISE: 03.baseline
import torch


def reinforce_loss(logp, returns, values):
    """REINFORCE loss with the critic's value as a baseline (to be minimised).

    logp:    (B,) log pi(a_t | s_t); carries gradients to the actor
    returns: (B,) Monte Carlo returns G_t (constants)
    values:  (B,) critic values V(s_t); they carry gradients to the critic, which must get none from this loss
    returns: scalar tensor L = -mean_t( (G_t - V(s_t)) * log pi(a_t | s_t) )
    """
    return -(logp * returns).mean()

# %%
exercises.check("03.baseline", reinforce_loss);

# %% [markdown]
# A **FAIL** here is expected at first: it describes the symptom, not the fix. Edit the function, re-run its
# cell and the check. If you are stuck, run `exercises.hint("03.baseline")` in a new cell; each call reveals
# the next level of the hint (where to look, then the idea, then the fix). After one real attempt,
# `exercises.solution("03.baseline")` shows a worked solution with an explanation.
#
# ### 7.2 backward() on a non-scalar loss
#
# This update is meant to take one gradient step on the actor loss of its docstring, a step whose size does
# not depend on the batch size. Run the check to see the error PyTorch raises, and read which line raises it
# and what shape of tensor that line expects. Then make the update do what the docstring promises, and check
# that doubling the batch would not double the step.

# %%
# EXERCISE: 03.scalar_loss
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

# %%
exercises.check("03.scalar_loss", update_actor);

# %% [markdown]
# A **FAIL** here is expected at first. If you are stuck, run `exercises.hint("03.scalar_loss")` in a new
# cell; each call reveals the next level of the hint. After one real attempt,
# `exercises.solution("03.scalar_loss")` shows a worked solution with an explanation.
#
# A third bug, a baseline that still sends gradient into the critic, is covered by the first checker (it
# recognises that attempt and explains what goes wrong) and by section 3.2, which measured that leak.

# %% [markdown]
# ## 8. In practice
#
# **Starting points, with what this notebook measured.** None of these is a law: a table of learning rates is a
# set of starting points, not a recipe.
#
# | setting | common start | what it does | measured here |
# |---|---|---|---|
# | baseline | a learned critic $V(s)$ | unbiased; lowers variance when close to the returns | variance columns in 4.1; REINFORCE pair in 4.2 |
# | $\lambda$ (`lam`) | 0.95 (0.9 to 0.99) | bias (low $\lambda$, trusts the critic) vs variance (high $\lambda$) | TD vs GAE pair in 4.2; explorer |
| seeds | ≥ 5 per compared setting | a 95 % bootstrap CI of the mean (or IQM) that is narrower than the seeds' range | section 4.3 |
# | $\gamma$ (`gamma`) | 0.99 | horizon about $1/(1-\gamma)$; lower = less variance, more bias | explorer, item 3 |
# | $c_1$ (`vf_coef`) | 0.5 | weight of the critic's loss in one shared loss | — (matters most with a shared network) |
# | $c_2$ (`ent_coef`) | 0 to 0.01 | entropy bonus, keeps the policy from collapsing early | — |
# | learning rates | often quoted: actor 1e-4, critic 1e-3 | separate rates for separate networks | `course_lib` uses one Adam rate (1e-3 here) for both, with $c_1$ setting the critic's share |
#
# **Diagnostics to watch.**
#
# * **Explained variance** of the critic, $1 - \operatorname{Var}[R - V]/\operatorname{Var}[R]$: negative or near 0
#   means the critic is no better than a constant and the advantages are barely better than raw returns. It
#   should climb during training; persistently below 0 points to a broken value target (wrong
#   `terminated`/`truncated` handling, rewards of a very different scale). Two cautions from 4.1 and 4.2: a
#   critic can be useful with a low explained variance when the future is mostly luck (4.1), and with
#   $\lambda = 0$ the targets are built from $V$ itself, so a high value flatters (4.2).
# * **Mean of the advantages** in a batch: with a working baseline it is near 0. Large and positive every batch
#   means the baseline is missing or far too low.
# * **Value loss**: should fall and then level off; if it grows with the returns, scale the rewards (notebook 06).
# * **Gradient signal-to-noise ratio**: rarely logged, but it is what section 4.1 measured; if two runs that
#   differ only in seed go very different ways, the gradient is too noisy for the batch size.
#
# **Failure signs.** `RuntimeError: grad can be implicitly created only for scalar outputs` (exercise 7.2); a
# critic whose values drift steadily up while its own loss rises (a baseline that is not detached); learning
# that is fine for a while and then very slow with $\lambda = 0$ and an untrained critic; every action made more
# likely in every batch (no baseline).
#
# **A seeding pitfall found while building this notebook.** Gymnasium seeds an environment's generator the same
# way `numpy.random.default_rng` does. Seed your action sampler with the same integer and it replays the very
# numbers the environment used to draw its start state:

# %%
env = gym.make("CartPole-v1")
start_obs, _ = env.reset(seed=1)
same_numbers = np.random.default_rng(1).uniform(-0.05, 0.05, size=4).astype(np.float32)
print("CartPole start state, seed 1:        ", start_obs)
print("default_rng(1), the same 4 uniforms: ", same_numbers)
env.close()

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Seed your action sampler with the same integer and it replays the very numbers the environment used to "
      "draw its start state", bool(np.array_equal(start_obs, same_numbers)),
      f"start state {start_obs} == default_rng(1) draws {same_numbers}")

# %% [markdown]
# The first version of section 4.1 sampled its actions with `np.random.default_rng(seed)` and the environment
# with the same `seed`. The actions a few steps in were then correlated with the start angle, the score
# identity no longer averaged to zero, and the bias test flagged reward-to-go against a baseline as "biased".
# The fix is independent streams: a `torch.Generator`, as above, or `np.random.SeedSequence(seed).spawn(2)`.
#
# ## 9. Critical view and ethics
#
# * **The practical estimator is not quite a gradient.** With $\gamma < 1$ the true gradient of
#   $\mathbb{E}[\sum_t \gamma^t r_t]$ carries an extra $\gamma^t$ in front of each term; almost every
#   implementation (this course's included) drops it. The resulting update is not the gradient of any objective
#   (Nota and Thomas 2020); it works well in practice, but "unbiased" claims about it are about a different
#   quantity. Section 4.1 used $\gamma = 1$ to avoid exactly this.
# * **Low variance can hide bias.** In 4.1 the TD error gave the most reliable direction per batch *and* a
#   measurably wrong mean. A smooth learning curve does not prove that the critic is right.
# * **Claims need seeds and intervals.** The comparisons in 4.2 are reported over five seeds with 95 %
#   bootstrap confidence intervals; section 4.3 showed that three seeds could have reported the baseline's gain
#   with either sign, or as a clear win, and that even five leave that comparison undecided.
# * **Which policies have a score function.** Policy gradients need a *stochastic* policy with a
#   differentiable $\log \pi$. Discrete actions are no obstacle: a softmax over them is the standard case, and
#   CartPole's two actions are all this notebook used. What has no score function is a deterministic, "hard"
#   policy (an argmax over discrete actions), whose probabilities are 0 or 1 and do not change smoothly with
#   $\theta$.
# * **Ethics.** A critic learns the value of the reward you wrote down, and the baseline makes the actor
#   optimise that reward *more efficiently*, loopholes included. Variance reduction speeds up reward hacking as
#   readily as learning. If the reward is a proxy (clicks for satisfaction, speed for safety), audit the
#   behaviour, not only the return, and remember that cheaper training makes it cheaper to deploy a
#   mis-specified objective at scale.
#
# ## 10. Further reading
#
# * **Williams (1992)**, "Simple statistical gradient-following algorithms for connectionist reinforcement
#   learning", *Machine Learning* 8, [doi:10.1007/BF00992696](https://doi.org/10.1007/BF00992696).
#   REINFORCE, and the observation that a reinforcement baseline leaves the expected update unchanged.
# * **Sutton, McAllester, Singh and Mansour (2000)**, "Policy gradient methods for reinforcement learning with
#   function approximation", NeurIPS. The policy gradient theorem, with a learned critic.
# * **Konda and Tsitsiklis (2000)**, "Actor-critic algorithms", NeurIPS. Convergence of two-timescale
#   actor-critic.
# * **Greensmith, Bartlett and Baxter (2004)**, "Variance reduction techniques for gradient estimates in
#   reinforcement learning", [*JMLR* 5](https://jmlr.org/papers/v5/greensmith04a.html). Baselines analysed;
#   the variance-optimal baseline is not $V^\pi$.
# * **Schulman, Moritz, Levine, Jordan and Abbeel (2016)**, "High-dimensional continuous control using
#   generalized advantage estimation", ICLR, [arXiv:1506.02438](https://arxiv.org/abs/1506.02438).
#   GAE($\gamma, \lambda$) and the bias-variance view of both parameters.
# * **Mnih et al. (2016)**, "Asynchronous methods for deep reinforcement learning", ICML,
#   [arXiv:1602.01783](https://arxiv.org/abs/1602.01783). A3C, whose synchronous version is the A2C of
#   `course_lib`.
# * **Schulman, Wolski, Dhariwal, Radford and Klimov (2017)**, "Proximal policy optimization algorithms",
#   [arXiv:1707.06347](https://arxiv.org/abs/1707.06347). The combined loss with $c_1$ and $c_2$ (eq. 9);
#   notebook 04.
# * **Tucker et al. (2018)**, "The mirage of action-dependent baselines in reinforcement learning", ICML,
#   [arXiv:1802.10031](https://arxiv.org/abs/1802.10031). Why baselines that depend on the action helped less
#   than reported.
# * **Nota and Thomas (2020)**, "Is the policy gradient a gradient?", AAMAS,
#   [arXiv:1906.07073](https://arxiv.org/abs/1906.07073). The missing $\gamma^t$.
# * **Henderson, Islam, Bachman, Pineau, Precup and Meger (2018)**, "Deep reinforcement learning that
#   matters", AAAI, [arXiv:1709.06560](https://arxiv.org/abs/1709.06560). How much seeds, implementations and
#   reporting change deep RL results; two groups of five seeds of the same algorithm that differ
#   significantly.
# * **Agarwal, Schwarzer, Castro, Courville and Bellemare (2021)**, "Deep reinforcement learning at the edge of
#   the statistical precipice", NeurIPS, [arXiv:2108.13264](https://arxiv.org/abs/2108.13264). Interval
#   estimates from few runs: stratified bootstrap confidence intervals, the interquartile mean, performance
#   profiles (the `rliable` library).
# * **Andrychowicz et al. (2021)**, "What matters in on-policy reinforcement learning? A large-scale empirical
#   study", ICLR, [arXiv:2006.05990](https://arxiv.org/abs/2006.05990). Measured effects of $\lambda$,
#   $\gamma$, advantage normalisation and more.
# * **Sutton and Barto (2018)**, *Reinforcement Learning: An Introduction*, 2nd ed., ch. 13 (policy gradient,
#   REINFORCE with baseline, actor-critic) and ch. 12 (λ-returns).

# %% [markdown]
# ## 11. Glossary and key takeaways
#
# **Glossary**
#
# | term | meaning |
# |---|---|
# | score function | $\nabla_\theta \log \pi_\theta(a \mid s)$; its expectation over $a$ is zero |
# | reward-to-go | $G_t$, the return from step $t$ on; using it instead of $G_0$ is "causality" |
# | baseline | a function of the state subtracted from $G_t$; never adds bias, may or may not cut variance |
# | advantage | $A^\pi(s, a) = Q^\pi(s, a) - V^\pi(s)$ |
# | TD error | $\delta_t = r_t + \gamma V(s_{t+1})(1 - \text{terminated}_t) - V(s_t)$; low variance, biased unless $V = V^\pi$ |
# | GAE($\gamma, \lambda$) | $\sum_l (\gamma\lambda)^l \delta_{t+l}$; $\lambda$ slides from TD error to $G_t - V(s_t)$ |
# | λ-return $G^\lambda_t$ | $(1-\lambda)\sum_{n \ge 1} \lambda^{n-1} G^{(n)}_t$; equals $\hat A^{\text{GAE}}_t + V(s_t)$, the critic's target |
# | explained variance | $1 - \operatorname{Var}[R - V]/\operatorname{Var}[R]$, the critic's quality on a batch |
# | signal-to-noise ratio | squared length of the mean estimate over its total variance |
# | $c_1$, $c_2$ | the weights of the value loss and the entropy bonus in the combined loss |
#
# **Key takeaways**
#
# 1. Subtracting any action-independent baseline leaves the expected policy gradient unchanged, because the
#    score has mean zero; this notebook measured it rather than assuming it.
# 2. What a baseline changes is the variance, a lot when it tracks the returns (the critic $V$), and for the
#    worse when it does not.
# 3. Causality (reward-to-go) and a baseline are free variance reductions; TD errors and GAE buy more by
#    trusting the critic, at the price of bias when the critic is wrong, which is worst early in training.
# 4. $\lambda$ is an estimation knob, $\gamma$ is part of the objective; both trade bias for variance, and
#    the best setting depends on how much data each update averages.
# 5. One scalar loss trains actor and critic: $-\log \pi \cdot \hat A + c_1 L^{VF} - c_2 \mathcal{H}$, with the
#    advantage and the target detached and the value weight called $c_1$, never $\lambda$.
# 6. A comparison between methods needs at least five seeds and a 95 % bootstrap confidence interval of the
#    mean or IQM; a min–max band of three seeds says where the runs were, not how well the mean is known.
#
# [Next: 04 · The clipped surrogate](04_clipped_surrogate.ipynb): what PPO does after the first step, when
# the ratio $\pi_\theta / \pi_{\theta_\text{old}}$ starts to move.
