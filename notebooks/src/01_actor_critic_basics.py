# %% [markdown]
# # 01 · Actor-critic basics: an actor that acts, a critic that judges
#
# **After this notebook you can**
#
# 1. say what the actor and the critic each learn, and write the policy-gradient estimate with an advantage;
# 2. write the critic's regression target and the TD error, and tell a *terminated* step from a *truncated* one
#    (the Gymnasium 1.x API);
# 3. build a one-step (TD(0)) actor-critic in about fifty lines of PyTorch, and explain why the TD error must
#    be detached *and* why detaching $V(s)$ alone is not enough;
# 4. train the course library's A2C on CartPole-v1 over five seeds, read its learning curves and diagnostics,
#    and explain why its critic lags far behind the returns;
# 5. look inside a trained agent: compare the critic's $V(s_t)$ with the return that really followed, and read
#    the actor's action probabilities along an episode.
#
# **Prerequisites:** Python and PyTorch basics (tensors, autograd, an optimiser step); the vocabulary of Markov
# decision processes (state, action, reward, discount $\gamma$, return). No earlier notebook is needed.
#
# **Time:** about 50 minutes to read and try. Running all cells takes **52 s** on a 2-core CPU without a GPU
# (measured from a fresh kernel by `make time-notebooks`, load average 1.07; a busier machine is slower). The
# learning-rate grid of section 8 was run once by `notebooks/scripts/nb01_lr_grid.py` (`make data`) and is
# loaded, with a check that it still matches today's code.
#
# **Contents:** 1 Intuition · 2 Maths · 3 Build it · 4 Experiments · 5 Explore · 6 Check your understanding ·
# 7 Debug the bug · 8 In practice · 9 Critical view · 10 Further reading · 11 Glossary and takeaways

# %% tags=["nb01-td0"]
# The imports and constants that the training code below needs. (This cell and the other cells tagged
# "nb01-td0" are also run by notebooks/scripts/nb01_lr_grid.py, which precomputes section 5.2's grid.)
import copy
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Categorical

from course_lib.record import History, UpdateRow

torch.set_num_threads(1)
SEED = 0
SEEDS = [SEED + k for k in range(5)]  # every multi-seed experiment of this notebook uses these five seeds
TD0_STEPS = 16_000  # env steps per run of our one-step actor-critic (sections 4 and 5.2)
PREFIX_UPDATES = 10  # first updates compared with the stored grid (section 5.2)

# %%
# The notebook's own tools: plots, widgets, statistics, quizzes, exercises, claim checks, stored results
import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from tqdm.auto import tqdm

from course_lib import exercises, plots, quiz, stored_results
from course_lib.claims import claim
from course_lib.stats import bootstrap_ci

plots.use_course_style()
torch.manual_seed(SEED)
print("torch", torch.__version__, "| gymnasium", gym.__version__)

# %% [markdown]
# ## 1. Intuition and terms
#
# Think of a learner driver and an instructor in the passenger seat. The **learner (the actor)** decides what
# to do: steer, brake, accelerate. The **instructor (the critic)** never touches the wheel. What the instructor
# does is keep a running guess of *how well this drive will go from here*. After each manoeuvre the instructor
# compares two things: the guess made a moment ago, and what actually happened (the immediate outcome plus the
# new guess from the new situation). The difference is a **surprise**. A pleasant surprise tells the learner
# "whatever you just did, do it a bit more often in situations like this"; an unpleasant one says the opposite.
# The instructor uses the same surprise to correct their own guessing.
#
# Two things the analogy gets right, and one it hides:
#
# * the critic **does not know the right action**: it only scores situations, and its score is only as good as
#   what it has learned so far;
# * the feedback is a **difference** (better or worse than expected), not the raw score: a good situation is not
#   a reason to repeat an action unless the action made it better than expected (section 2 makes this exact);
# * unlike a human instructor, the critic starts out *knowing nothing*; both learn at the same time, which is
#   where most of the practical trouble comes from.
#
# In reinforcement-learning terms, on CartPole-v1 (push a cart left or right so that the pole on it stays up;
# reward $+1$ per step, at most 500 steps):

# %%
def draw_actor_critic_loop() -> None:
    """A small diagram of one step of an actor-critic agent interacting with its environment."""
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5.1)
    ax.axis("off")
    boxes = {
        "actor": (0.4, 3.0, "Actor  $\\pi_\\theta(a\\mid s)$\nchooses the action", plots.PALETTE[0]),
        "critic": (6.4, 3.0, "Critic  $V_\\phi(s)$\npredicts the return", plots.PALETTE[1]),
        "env": (3.4, 0.3, "Environment\n(CartPole-v1)", plots.PALETTE[2]),
    }
    for x, y, text, colour in boxes.values():
        face = matplotlib.colors.to_rgba(colour, alpha=0.15)
        ax.add_patch(plt.Rectangle((x, y), 3.2, 1.5, facecolor=face, edgecolor=colour, lw=2))
        ax.text(x + 1.6, y + 0.75, text, ha="center", va="center", fontsize=10)

    def arrow(xy_from, xy_to, label, label_xy, style="-", colour="0.2"):
        ax.annotate("", xy=xy_to, xytext=xy_from,
                    arrowprops=dict(arrowstyle="->", lw=1.8, color=colour, linestyle=style))
        ax.text(*label_xy, label, fontsize=9, ha="center", va="center", color=colour)

    arrow((1.2, 3.0), (3.4, 1.05), "action $a_t$", (1.6, 1.8))
    arrow((4.3, 1.8), (3.0, 3.0), "state $s_t$", (4.35, 2.45))
    arrow((6.6, 1.8), (7.6, 3.0), "$s_t,\\ r_t,\\ s_{t+1}$,\nterminated?", (8.5, 2.3))
    arrow((6.4, 3.75), (3.6, 3.75), "TD error $\\delta_t$ (detached)", (5.0, 4.1), style="--",
          colour=plots.PALETTE[3])
    ax.text(5.0, 3.3, "better or worse\nthan expected?", fontsize=9, ha="center", va="center", color=plots.PALETTE[3])
    ax.set_title("One step of a one-step actor-critic", fontsize=11, pad=12)
    plots.show(fig, alt="Diagram of one step of a one-step actor-critic: the actor box sends an action to "
                        "the environment box; the environment passes the state, reward, next state and "
                        "terminated flag to the critic box; the critic sends the detached TD error back to "
                        "the actor, saying whether the step went better or worse than expected.")


draw_actor_critic_loop()

# %% [markdown]
# | term | symbol / code name | meaning |
# |---|---|---|
# | policy (actor) | $\pi_\theta(a \mid s)$, `actor` | a network with parameters $\theta$ that outputs a distribution over actions; here two **logits** (left, right) |
# | state value (critic) | $V_\phi(s)$, `critic` | a network with parameters $\phi$ that predicts the expected discounted return from state $s$ when following $\pi_\theta$ |
# | return | $G_t = \sum_{k \ge 0} \gamma^k r_{t+k}$, `ret` | the discounted sum of rewards that actually followed step $t$ |
# | action value | $Q^\pi(s, a)$ | expected return after taking $a$ in $s$, then following $\pi$ |
# | advantage | $A^\pi(s, a) = Q^\pi(s, a) - V^\pi(s)$, `adv` | how much better $a$ is than what $\pi$ does on average in $s$ |
# | TD error | $\delta_t = r_t + \gamma (1 - \text{terminated}_t) V_\phi(s_{t+1}) - V_\phi(s_t)$, `delta` | the critic's one-step surprise; a one-sample estimate of the advantage |
# | terminated / truncated | `terminated`, `truncated` | the episode really ended (pole fell) / a time limit cut it (500 steps): after a truncation the state still has value |
#
# A first concept check (click an answer, then **Submit**; you can retry):

# %%
quiz.show("01.critic_role")

# %% [markdown]
# ## 2. The maths
#
# ### 2.1 What the actor maximises and the policy-gradient theorem
# The actor's objective is the expected discounted return of its policy from the start state,
# $J(\theta) = \mathbb{E}_{\pi_\theta}\big[\sum_{t \ge 0} \gamma^t r_t\big]$. The policy-gradient theorem
# (Sutton, McAllester, Singh & Mansour 2000) says its gradient can be estimated from the agent's own experience
# without differentiating the environment:
#
# $$\nabla_\theta J(\theta) = \mathbb{E}_{\pi_\theta}\Big[\sum_{t \ge 0} \gamma^t\, \nabla_\theta \log \pi_\theta(a_t \mid s_t)\; Q^{\pi}(s_t, a_t)\Big]
#   \;=\; \frac{1}{1-\gamma}\, \mathbb{E}_{s \sim d^{\pi}_\gamma,\, a \sim \pi_\theta}\big[\nabla_\theta \log \pi_\theta(a \mid s)\; Q^{\pi}(s, a)\big],$$
#
# $$d^\pi_\gamma(s) = (1-\gamma) \sum_{t \ge 0} \gamma^t \Pr(s_t = s \mid \pi_\theta) .$$
#
# Read it as: *raise the log-probability of each action in proportion to how good it turned out*. The states
# are weighted by $d^\pi_\gamma$, the **discounted** state distribution: a visit at step $t$ counts with weight
# $\gamma^t$, so the states met early in an episode count most. (For an episodic task, $\Pr(s_t = s)$ is zero
# once the episode has ended; $d^\pi_\gamma$ then sums to less than 1, and normalising it only changes a positive
# constant, which the learning rate absorbs.) $d^\pi_\gamma$ is **not** "how often the policy visits each state":
# that would weight a state met at step 300 as much as the start state. Yet this is exactly what practical
# algorithms sample when they average over every step of their rollouts, ours included; section 2.5 comes back
# to what that changes (Nota & Thomas 2020).
#
# ### 2.2 Why an *advantage*: subtracting a baseline changes nothing on average
# For any function $b(s)$ that does not depend on the action,
#
# $$\mathbb{E}_{a \sim \pi_\theta}\big[\nabla_\theta \log \pi_\theta(a \mid s)\, b(s)\big]
#   = b(s) \sum_a \pi_\theta(a \mid s) \frac{\nabla_\theta \pi_\theta(a \mid s)}{\pi_\theta(a \mid s)}
#   = b(s)\, \nabla_\theta \underbrace{\textstyle\sum_a \pi_\theta(a \mid s)}_{=\,1} = 0 .$$
#
# So we may replace $Q^\pi$ by $Q^\pi - b$ without changing the expected gradient; the usual choice
# $b = V^\pi$ gives the **advantage** $A^\pi(s, a) = Q^\pi(s, a) - V^\pi(s)$, which is positive exactly for
# better-than-average actions and usually has a much smaller spread than $Q$:
#
# $$\nabla_\theta J(\theta) = \frac{1}{1-\gamma}\, \mathbb{E}_{s \sim d^{\pi}_\gamma,\, a \sim \pi_\theta}\big[\nabla_\theta \log \pi_\theta(a \mid s)\; A^{\pi}(s, a)\big].$$
#
# The same identity has a second consequence, often overlooked (section 4.2 tests it): weighting by
# $V(s)$ **alone** has expected gradient *zero*. It is pure noise, not a learning signal.
#
# ### 2.3 The critic's regression target
# The critic is trained by regression: make $V_\phi(s_t)$ close to a target $y_t$,
#
# $$L(\phi) = \tfrac12\, \mathbb{E}_t\big[(V_\phi(s_t) - y_t)^2\big], \qquad
#   y_t = r_t + \gamma\,(1 - \text{terminated}_t)\, V_\phi(s_{t+1}) \quad \text{(one-step, TD(0) target)} .$$
#
# The target is held **constant** when differentiating (only $V_\phi(s_t)$ gets a gradient; this is the usual
# "semi-gradient" TD update). Other targets are possible: the full Monte Carlo return $G_t$ (no bias, high
# variance) or an $n$-step return $r_t + \dots + \gamma^{n-1} r_{t+n-1} + \gamma^n V_\phi(s_{t+n})$, which the
# library's A2C uses with $n$ up to 8.
#
# ### 2.4 The TD error is a one-sample advantage
# The critic's error on one transition is the **TD error**
#
# $$\delta_t = r_t + \gamma\,(1 - \text{terminated}_t)\, V_\phi(s_{t+1}) - V_\phi(s_t) = y_t - V_\phi(s_t).$$
#
# If the critic were exact ($V_\phi = V^\pi$), then averaging over what the environment does next,
# $\mathbb{E}[\delta_t \mid s_t, a_t] = Q^\pi(s_t, a_t) - V^\pi(s_t) = A^\pi(s_t, a_t)$: one transition gives an
# unbiased (but noisy) sample of the advantage. With a learned, imperfect critic it is a *biased* estimate with
# low variance; that trade-off (and how GAE tunes it) is the subject of notebook 03.
#
# ### 2.5 The two updates
# Putting it together, with two learning rates $\alpha_\theta$ (actor) and $\alpha_\phi$ (critic):
#
# $$\theta \leftarrow \theta + \alpha_\theta\, \delta_t\, \nabla_\theta \log \pi_\theta(a_t \mid s_t), \qquad
#   \phi \leftarrow \phi + \alpha_\phi\, \delta_t\, \nabla_\phi V_\phi(s_t).$$
#
# In PyTorch we *minimise* losses, so the actor's loss is
# $L_{\text{actor}} = -\,\text{mean}_t\big[\text{sg}(\delta_t) \log \pi_\theta(a_t \mid s_t)\big]$, where
# $\text{sg}$ ("stop gradient") is `.detach()`: the advantage is a fixed weight, not something to optimise. The
# critic's loss is $L(\phi)$ above (its gradient is $-\delta_t \nabla_\phi V_\phi(s_t)$).
#
# *A detail:* Sutton & Barto's episodic one-step actor-critic (section 13.5) multiplies the actor's step by
# $\gamma^t$, the weight of the discounted state distribution of section 2.1. Practical implementations (A2C,
# PPO, and ours) drop that factor and so sample states as the policy visits them, undiscounted; Nota & Thomas
# (2020) show that the resulting update is then, in general, not the gradient of any objective, although it
# works well in practice.
#
# ### 2.6 Terminated versus truncated (Gymnasium 1.x)
# `env.step(a)` returns **five** values, `obs, reward, terminated, truncated, info`. Only `terminated` (the pole
# fell) removes the bootstrap term: nothing can be earned after a real end. `truncated` (the 500-step time
# limit) is *not* part of the task: the state where the clock ran out still has value, so the target
# bootstraps from $V(s_{\text{final}})$ (Pardo et al. 2018). That is why the formulas above carry
# $(1 - \text{terminated}_t)$ and not $(1 - \text{done}_t)$.
#
# **Check the identities on numbers.** A single state with three actions, logits $\theta$, and known action
# values $Q$. We compute, exactly (summing over actions instead of sampling), the mean and the variance of the
# one-sample gradient estimate $\nabla_\theta \log \pi_\theta(a)\, w(a)$ for three choices of the weight $w$.

# %%
# NBVAL_CHECK_OUTPUT
theta = torch.tensor([0.3, -0.2, 0.1], requires_grad=True)  # logits of pi over 3 actions
q_values = torch.tensor([1.0, 3.0, 2.0])  # Q(s, a), known exactly in this toy problem
pi = torch.softmax(theta, dim=0).detach()
v_state = (pi * q_values).sum()  # V(s) = sum_a pi(a) Q(s, a)
# grad_theta log pi(a), one row per action, by autograd
scores = torch.stack([torch.autograd.grad(torch.log_softmax(theta, 0)[a], theta)[0] for a in range(3)])
# the true gradient of J = sum_a pi(a) Q(a)
true_grad = torch.autograd.grad((torch.softmax(theta, 0) * q_values).sum(), theta)[0]
print("pi =", pi.numpy().round(4), " V(s) =", round(v_state.item(), 4))
print("true gradient of J            :", true_grad.numpy().round(4))
estimator = {}  # weight -> (mean, total variance) of the one-sample gradient estimate
for name, w in [("w = V(s)          ", v_state.expand(3)), ("w = Q(s, a)       ", q_values),
                ("w = A = Q(s,a)-V(s)", q_values - v_state)]:
    samples = scores * w[:, None]  # (3 actions, 3 params): the estimate if action a is drawn
    mean = (pi[:, None] * samples).sum(0)  # E_a[...]
    # total variance: E_a || estimate - mean ||^2
    var = (pi * ((samples - mean) ** 2).sum(1)).sum()
    estimator[name.split("=")[1].strip()[0]] = (mean, var.item())
    print(f"{name}: mean = {mean.numpy().round(4)}  total variance = {var.item():.4f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
(mean_v, var_v), (mean_q, var_q), (mean_a, var_a) = estimator["V"], estimator["Q"], estimator["A"]
claim("Weighting by Q and by A give the same mean, the true gradient, but the advantage has a smaller variance",
      bool(torch.allclose(mean_q, true_grad, atol=1e-6) and torch.allclose(mean_a, true_grad, atol=1e-6)
           and var_a < var_q), f"variance with Q {var_q:.4f}, with A {var_a:.4f}")
claim("Weighting by V(s) gives mean zero, with a variance that is not zero",
      bool(mean_v.abs().max() < 1e-6 and var_v > 0.1), f"mean {mean_v.numpy().round(6)}, variance {var_v:.4f}")

# %% [markdown]
# Reading the table: weighting by $Q$ and by $A$ give **the same mean, the true gradient**, but the advantage
# has a smaller variance (the common part $V(s)$ of every action's value, which only adds noise, is gone).
# Weighting by $V(s)$ gives mean **zero**, with a variance that is not zero: every update is noise.
#
# **The TD target at a real end and at a time limit.** One transition with $r = 1$, $\gamma = 0.99$ and
# $V(s_{t+1}) = 40$, once as a termination and once as a truncation:

# %%
# NBVAL_CHECK_OUTPUT
def td_target(reward: float, next_value: float, terminated: bool, gamma: float) -> float:
    """y = r + gamma * (1 - terminated) * V(s'); truncation does not change the formula."""
    return reward + gamma * (1.0 - float(terminated)) * next_value


print("terminated (pole fell):   y =", round(td_target(1.0, 40.0, terminated=True, gamma=0.99), 4))
print("truncated (time limit):   y =", round(td_target(1.0, 40.0, terminated=False, gamma=0.99), 4))

# %% [markdown]
# ### The Gymnasium 1.x API
# > **Common misconception.** Many tutorials still write `import gym`, `state = env.reset()` and
# > `next_state, reward, done, _ = env.step(a)`, as if that were how every RL environment works.
# >
# > **What is true:** `gym` is unmaintained; its successor Gymnasium returns `(obs, info)` from `reset` and five
# > values from `step`, so the old unpacking raises an error (the cell below shows it), and code that folds
# > `terminated` and `truncated` into one `done` bootstraps wrongly at time limits (section 2.6). The right
# > version: `obs, info = env.reset(seed=...)`, then `obs, reward, terminated, truncated, info = env.step(action)`.
#
# A 3-step time limit shows both flags:

# %%
# NBVAL_CHECK_OUTPUT
env = gym.make("CartPole-v1", max_episode_steps=3)
obs, info = env.reset(seed=SEED)
print("reset returned obs", obs.round(4), "and info", info)
try:
    next_state, reward, done, _ = env.step(0)  # the old 4-value unpacking
except ValueError as err:
    print("old API:", err)
obs, info = env.reset(seed=SEED)
for t in range(3):
    obs, reward, terminated, truncated, info = env.step(t % 2)
    print(f"step {t}: reward={reward} terminated={terminated} truncated={truncated} obs={obs.round(4)}")
env.close()

# %% [markdown]
# After the third step the episode is over because of the time limit (`truncated=True`) while the pole is still
# up (`terminated=False`): its TD target must bootstrap from $V$ of that last observation.

# %% [markdown]
# ### 2.7 Where the policy-gradient theorem comes from, checked on a tiny MDP
#
# Section 2.1 stated the theorem; here is why it holds, in five lines, for a finite MDP with start distribution
# $\mu_0$, transition probabilities $P(s' \mid s, a)$ and expected rewards $r(s, a)$. Neither $P$ nor $r$ depends on
# $\theta$. Differentiate $V^\pi(s) = \sum_a \pi_\theta(a \mid s)\, Q^\pi(s, a)$ with
# $Q^\pi(s, a) = r(s, a) + \gamma \sum_{s'} P(s' \mid s, a)\, V^\pi(s')$:
#
# $$\nabla_\theta V^\pi(s) = \underbrace{\sum_a \nabla_\theta \pi_\theta(a \mid s)\, Q^\pi(s, a)}_{=:\ \phi(s)}
#   \;+\; \gamma \sum_{s'} P_\pi(s' \mid s)\, \nabla_\theta V^\pi(s'),
#   \qquad P_\pi(s' \mid s) = \sum_a \pi_\theta(a \mid s) P(s' \mid s, a).$$
#
# The gradient at $s$ is a local term $\phi(s)$ plus the discounted gradient one step later. Substituting the
# same equation for $\nabla_\theta V^\pi(s')$ again and again unrolls it into a sum over the steps of an episode:
#
# $$\nabla_\theta J = \sum_{s_0} \mu_0(s_0)\, \nabla_\theta V^\pi(s_0)
#   = \sum_s \Big[\sum_{t \ge 0} \gamma^t \Pr(s_t = s \mid \pi_\theta)\Big] \phi(s)
#   = \frac{1}{1-\gamma} \sum_s d^\pi_\gamma(s) \sum_a \pi_\theta(a \mid s)\, \nabla_\theta \log \pi_\theta(a \mid s)\, Q^\pi(s, a),$$
#
# using $\nabla_\theta \pi = \pi\, \nabla_\theta \log \pi$ in the last step. The bracket is where the discounted state
# distribution comes from: each visit at step $t$ carries the $\gamma^t$ of the recursion. And the point of the
# theorem: although changing $\theta$ changes which states are visited, **no derivative of the state
# distribution appears**; only $\nabla_\theta \log \pi$ and $Q^\pi$ do, both available from the agent's own
# experience. In matrix form $\sum_t \gamma^t \Pr(s_t = \cdot) = \mu_0^\top (I - \gamma P_\pi)^{-1}$, so on a small
# MDP every term can be computed exactly.
#
# **The check.** A random MDP with 4 states and 3 actions, $\gamma = 0.9$, every episode starting in state 0,
# and a tabular softmax policy with logits $\theta$ of shape (4, 3). We compute $J(\theta) = \mu_0^\top V^\pi$
# exactly by solving $V^\pi = r_\pi + \gamma P_\pi V^\pi$, and its gradient three ways: autograd through that
# exact value, central finite differences, and the theorem's sum. (The exact values come from
# `course_lib.tabular_mdp`, which notebook 05 uses again for TRPO's maths.) A fourth candidate weights the states by
# how often the policy visits them in the long run (the stationary distribution of $P_\pi$) instead of by
# $d^\pi_\gamma$: the weighting that averaging over every step of long rollouts gives.

# %%
# NBVAL_CHECK_OUTPUT
# random_mdp: P (S, A, S') with rows uniform on the simplex and rewards r (S, A) ~ N(0, 1), float64.
# exact_values: V^pi (S,) by one linear solve of (I - gamma P_pi) V = r_pi, and
# Q^pi(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) V(s') (notebook 05 uses the same module for TRPO's maths).
from course_lib.tabular_mdp import exact_values, policy_dynamics, random_mdp

S, A, gamma_pg = 4, 3, 0.9
mdp_pg = random_mdp(S, A, seed=SEED, gamma=gamma_pg)   # mu0: every episode starts in state 0
mu0 = mdp_pg.mu0
theta_pg = torch.randn(S, A, generator=torch.Generator().manual_seed(SEED + 1), dtype=torch.float64)


def objective(logits):
    """J(theta) = sum_s mu0(s) V^pi(s), exact."""
    return mu0 @ exact_values(mdp_pg, torch.softmax(logits, dim=1))[0]


# 1. autograd through the exact value
theta_req = theta_pg.clone().requires_grad_(True)
grad_autograd = torch.autograd.grad(objective(theta_req), theta_req)[0]
# 2. central finite differences, one logit at a time
eps = 1e-6
grad_fd = torch.zeros_like(theta_pg)
for idx in np.ndindex(S, A):
    step = torch.zeros_like(theta_pg)
    step[idx] = eps
    grad_fd[idx] = (objective(theta_pg + step) - objective(theta_pg - step)) / (2 * eps)
# 3. the theorem: 1/(1-gamma) sum_s d(s) sum_a pi(a|s) grad log pi(a|s) Q(s, a)
pi_pg = torch.softmax(theta_pg, dim=1)
V_pg, Q_pg = exact_values(mdp_pg, pi_pg)
P_pi_pg, _ = policy_dynamics(mdp_pg, pi_pg)   # P_pi(s'|s) = sum_a pi(a|s) P(s'|s, a)
# d_gamma = (1 - gamma) mu0^T (I - gamma P_pi)^{-1}
d_gamma = (1 - gamma_pg) * torch.linalg.solve((torch.eye(S, dtype=torch.float64) - gamma_pg * P_pi_pg).T, mu0)
# tabular softmax: d log pi(a|s) / d theta[s, b] = 1[a = b] - pi(b|s), zero for the other states' logits, so
# sum_a pi(a|s) grad log pi(a|s) Q(s,a) has entry pi(b|s) (Q(s,b) - V(s)) at [s, b]
local = pi_pg * (Q_pg - V_pg[:, None])
grad_theorem = d_gamma[:, None] * local / (1 - gamma_pg)
# 4. the same sum with the stationary distribution of P_pi (long-run visit frequencies) instead of d_gamma
# every row of P_pi^n tends to the stationary distribution as n grows (all transitions here have P > 0)
stationary = torch.linalg.matrix_power(P_pi_pg, 500)[0]
grad_stationary = stationary[:, None] * local / (1 - gamma_pg)


def rel_err(g):
    return ((g - grad_autograd).norm() / grad_autograd.norm()).item()


def cosine(g):
    return (g.flatten() @ grad_autograd.flatten() / (g.norm() * grad_autograd.norm())).item()


print("d_gamma (discounted)        :", d_gamma.numpy().round(3))
print("stationary (visit frequency):", stationary.numpy().round(3))
print(f"J = {objective(theta_pg).item():.4f}")
print(f"theorem vs autograd:        relative error below 1e-10: {rel_err(grad_theorem) < 1e-10}")
print(f"finite differences vs autograd: relative error below 1e-6: {rel_err(grad_fd) < 1e-6}")
print(f"stationary weighting vs autograd: relative error {rel_err(grad_stationary):.2f}, "
      f"cosine {cosine(grad_stationary):.3f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("the theorem's sum equals the exact gradient of J to rounding error, and finite differences agree",
      bool(rel_err(grad_theorem) < 1e-10 and rel_err(grad_fd) < 1e-6),
      f"relative errors: theorem {rel_err(grad_theorem):.1e}, finite differences {rel_err(grad_fd):.1e}")
claim("weighting the same terms by the stationary distribution gives a different vector (more than 10 % off)",
      bool(rel_err(grad_stationary) > 0.1 and torch.allclose(stationary @ P_pi_pg, stationary, atol=1e-12)),
      f"relative error {rel_err(grad_stationary):.2f}, cosine {cosine(grad_stationary):.3f}")
claim("d_gamma puts more weight on the start state than the stationary distribution does",
      bool(d_gamma[0] > stationary[0]), f"{d_gamma[0]:.3f} vs {stationary[0]:.3f}")
claim("here it still points roughly the same way (cosine above 0.9)", bool(cosine(grad_stationary) > 0.9),
      f"cosine {cosine(grad_stationary):.3f}")

# %% [markdown]
# The theorem's sum equals the exact gradient of $J$ to rounding error, and finite differences agree: the
# derivation holds, with no derivative of the state distribution anywhere. Weighting the same terms by the
# stationary distribution gives a different vector (more than 10 % off): $d^\pi_\gamma$ puts more weight on
# the start state than the stationary distribution does. That is the gap section 2.5 mentions between the
# theorem and what practical algorithms (ours included) average over. Here it still points roughly the same
# way (cosine above 0.9), but nothing guarantees that: Nota & Thomas (2020) show that, in general, the update
# it gives is not the gradient of any objective.
#
# Two concept checks on the theorem:

# %%
quiz.show("01.discounted_state_distribution")

# %%
quiz.show("01.pg_theorem_no_state_gradient")

# %% [markdown]
# ## 3. Build it: a one-step actor-critic
#
# ### 3.1 Two small networks, and why the actor outputs logits
# Both networks are small MLPs: 4 observation numbers in, two tanh hidden layers of 64 units. The actor ends in
# **two logits** (one per action), the critic in **one number**.
#
# > **Common misconception.** An actor should end with `nn.Softmax` and build `Categorical(probs)`: the
# > probabilities are what we sample from, so that is the natural output.
# >
# > **What is true:** that works as long as no probability gets tiny; but a softmax can underflow to exactly 0
# > in float32. Then a hand-written `torch.log(probs)` gives $-\infty$, and `Categorical(probs=...)` quietly
# > clamps the probability to about $10^{-7}$: the log-probability is wrong and its gradient is exactly zero, so
# > the actor can no longer learn about that action. Passing the logits (`Categorical(logits=...)`) computes
# > $\log \pi$ with a log-softmax, which stays exact. The cell below shows both on an actor that is very sure:

# %%
# NBVAL_CHECK_OUTPUT
logits = torch.tensor([[0.0, -120.0]], requires_grad=True)  # an actor that is very sure of action 0
probs = torch.softmax(logits, dim=-1)
logp_from_probs = Categorical(probs=probs).log_prob(torch.tensor([1]))
logp_from_logits = Categorical(logits=logits).log_prob(torch.tensor([1]))
print("softmax probabilities     :", probs.detach().numpy())
print("torch.log(softmax)[1]     :", torch.log(probs)[0, 1].item())
print("log pi(1) via probs       :", round(logp_from_probs.item(), 4))
print("log pi(1) via logits      :", logp_from_logits.item())
grad_probs = torch.autograd.grad(logp_from_probs.sum(), logits)[0]
grad_logits = torch.autograd.grad(logp_from_logits.sum(), logits)[0]
print("gradient via probs        :", grad_probs.numpy())
print("gradient via logits       :", grad_logits.numpy())

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Categorical(probs=...) gives a wrong log-probability whose gradient is exactly zero; logits stay exact",
      bool(abs(logp_from_probs.item() + 120.0) > 100 and torch.all(grad_probs == 0)
           and logp_from_logits.item() == -120.0 and torch.all(grad_logits.abs() > 0.5)),
      f"log pi(1): via probs {logp_from_probs.item():.4f}, via logits {logp_from_logits.item():.1f}; "
      f"gradients {grad_probs.numpy().ravel()} vs {grad_logits.numpy().ravel()}")

# %% tags=["nb01-td0"]
def make_net(in_dim: int, out_dim: int, hidden: int = 64) -> nn.Sequential:
    """An MLP (B, in_dim) -> (B, out_dim) with two tanh hidden layers; the last layer is linear.

    For the actor, out_dim = number of actions and the outputs are logits; for the critic, out_dim = 1.
    """
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.Tanh(),
        nn.Linear(hidden, hidden), nn.Tanh(),
        nn.Linear(hidden, out_dim),
    )


# %% [markdown]
# ### 3.2 The losses of one TD(0) update
# One function turns a batch of transitions into the two losses. It follows section 2.5 line by line; the
# argument `actor_weight` exists only for the experiment of section 4.2, which weights by $V(s)$ instead
# (`"td_error"` is the correct choice).

# %% tags=["nb01-td0"]
class TD0Losses(NamedTuple):
    """Result of `td0_losses`: two scalar losses to minimise, plus detached statistics."""

    actor_loss: Tensor  # scalar, gradient flows to the actor only
    critic_loss: Tensor  # scalar, gradient flows to the critic only
    delta: Tensor  # (B,) TD errors, detached
    entropy: Tensor  # scalar, mean entropy of pi(.|s_t), detached


def td0_losses(actor: nn.Module, critic: nn.Module, obs: Tensor, actions: Tensor, rewards: Tensor,
               next_obs: Tensor, terminated: Tensor, gamma: float, valid: Tensor | None = None,
               actor_weight: str = "td_error") -> TD0Losses:
    """Actor and critic losses of a one-step actor-critic on a batch of B transitions.

    obs, next_obs: (B, obs_dim) states s_t and s_{t+1}; actions: (B,) int64; rewards, terminated: (B,) float
    (terminated = 1.0 where s_{t+1} ends the episode for real). valid: (B,) float mask, 0.0 for steps to leave
    out (default: all 1.0). actor_weight: "td_error" (correct) or "value" (the common wrong fix, V(s) alone).
    """
    if actor_weight not in ("td_error", "value"):
        raise ValueError(f"actor_weight must be 'td_error' or 'value', got {actor_weight!r}")
    valid = torch.ones_like(rewards) if valid is None else valid
    n_valid = valid.sum()
    dist = Categorical(logits=actor(obs))  # logits, not softmax (section 3.1)
    logp = dist.log_prob(actions)  # log pi(a_t | s_t), (B,)
    values = critic(obs).squeeze(-1)  # V(s_t), (B,)
    with torch.no_grad():  # the target is a constant (semi-gradient TD)
        # y_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1})
        target = rewards + gamma * (1.0 - terminated) * critic(next_obs).squeeze(-1)
    # delta_t = y_t - V(s_t), detached: a fixed weight for the actor
    delta = (target - values).detach()
    weight = delta if actor_weight == "td_error" else values.detach()
    # L_actor = -mean_t[ sg(delta_t) * log pi(a_t | s_t) ]
    actor_loss = -(weight * logp * valid).sum() / n_valid
    # L_critic = 1/2 mean_t[ (V(s_t) - y_t)^2 ]
    critic_loss = 0.5 * ((values - target) ** 2 * valid).sum() / n_valid
    entropy = ((dist.entropy() * valid).sum() / n_valid).detach()
    return TD0Losses(actor_loss, critic_loss, delta, entropy)


# %% [markdown]
# On a fixed batch (seeded networks and inputs), these are the numbers; the cell also shows what goes wrong
# without the `.detach()`: the actor's loss sends gradient into the critic's weights, which then learn to make
# the actor's loss small instead of predicting returns.

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(SEED)
demo_actor, demo_critic = make_net(4, 2), make_net(4, 1)
batch = dict(
    obs=torch.randn(6, 4), actions=torch.tensor([0, 1, 1, 0, 1, 0]), rewards=torch.ones(6),
    next_obs=torch.randn(6, 4), terminated=torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0, 0.0]),
)
out = td0_losses(demo_actor, demo_critic, gamma=0.99, **batch)
print("delta       =", out.delta.numpy().round(4))
print("actor loss  =", round(out.actor_loss.item(), 4), "  critic loss =", round(out.critic_loss.item(), 4))


def critic_grad_norm_from_actor_loss(detach: bool) -> float:
    """Norm of d(actor loss)/d(critic weights) on the demo batch, with or without detaching delta."""
    demo_critic.zero_grad(set_to_none=True)
    logp = Categorical(logits=demo_actor(batch["obs"])).log_prob(batch["actions"])
    values = demo_critic(batch["obs"]).squeeze(-1)
    target = batch["rewards"] + 0.99 * (1 - batch["terminated"]) * demo_critic(batch["next_obs"]).squeeze(-1)
    delta = target - values
    loss = -((delta.detach() if detach else delta) * logp).mean()
    loss.backward()
    grads = [p.grad.flatten() for p in demo_critic.parameters() if p.grad is not None]
    return torch.cat(grads).norm().item() if grads else 0.0


leak = {detach: critic_grad_norm_from_actor_loss(detach) for detach in (False, True)}
print("gradient reaching the critic from the actor loss, no detach:", round(leak[False], 4))
print("gradient reaching the critic from the actor loss, detached: ", round(leak[True], 4))

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Without the .detach() the actor's loss sends gradient into the critic's weights; with it, none",
      bool(leak[False] > 0.1 and leak[True] == 0.0), f"gradient norm no detach {leak[False]:.4f}, detached {leak[True]}")

# %% [markdown]
# ### 3.3 The same pieces from `course_lib`
# The library has each piece as a tested function: `advantages.td_errors`, `advantages.n_step_returns` (with
# $n = 1$ it is exactly our TD target), `losses.policy_gradient_loss`, `losses.value_loss`, and the networks
# `networks.CategoricalActor` / `networks.Critic` (same layer sizes; the library initialises them
# orthogonally). We copy the library networks' weights into ours and check that both give the same numbers and
# the same gradients on the same batch.

# %%
# NBVAL_CHECK_OUTPUT
from course_lib.advantages import n_step_returns, td_errors
from course_lib.losses import policy_gradient_loss, value_loss
from course_lib.networks import CategoricalActor, Critic

torch.manual_seed(SEED)
lib_actor, lib_critic = CategoricalActor(4, 2, hidden=(64, 64)), Critic(4, hidden=(64, 64))
my_actor, my_critic = make_net(4, 2), make_net(4, 1)
my_actor.load_state_dict(lib_actor.net.state_dict())
my_critic.load_state_dict(lib_critic.net.state_dict())

mine = td0_losses(my_actor, my_critic, gamma=0.99, **batch)
# the library version of the same update
values = lib_critic(batch["obs"])
next_values = lib_critic(batch["next_obs"]).detach()
delta_lib = td_errors(batch["rewards"], values, next_values, batch["terminated"], gamma=0.99)
target_lib = n_step_returns(batch["rewards"], values, next_values, batch["terminated"],
                            torch.zeros(6), gamma=0.99, n=1).returns
logp_lib = lib_actor.log_prob(lib_actor.distribution(batch["obs"]), batch["actions"])
actor_loss_lib = policy_gradient_loss(logp_lib, delta_lib.detach())
critic_loss_lib = value_loss(values, target_lib)

grads_mine = torch.autograd.grad(mine.actor_loss + mine.critic_loss,
                                 list(my_actor.parameters()) + list(my_critic.parameters()))
grads_lib = torch.autograd.grad(actor_loss_lib + critic_loss_lib,
                                list(lib_actor.parameters()) + list(lib_critic.parameters()))
print("actor loss : mine", round(mine.actor_loss.item(), 4), "| course_lib", round(actor_loss_lib.item(), 4))
print("critic loss: mine", round(mine.critic_loss.item(), 4), "| course_lib", round(critic_loss_lib.item(), 4))
same_delta = torch.allclose(mine.delta, delta_lib.detach(), atol=1e-6)
same_grads = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads_mine, grads_lib))
print("TD errors agree:", same_delta)
print("all gradients agree:", same_grads)

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Both give the same numbers and the same gradients on the same batch",
      bool(same_delta and same_grads and abs(mine.actor_loss.item() - actor_loss_lib.item()) < 1e-6
           and abs(mine.critic_loss.item() - critic_loss_lib.item()) < 1e-6),
      f"actor loss {mine.actor_loss.item():.6f} vs {actor_loss_lib.item():.6f}; critic loss "
      f"{mine.critic_loss.item():.6f} vs {critic_loss_lib.item():.6f}; TD errors agree {same_delta}; "
      f"gradients agree {same_grads}")

# %% [markdown]
# ### 3.4 The training loop
# Updating after every single step of a single environment is the textbook algorithm, but in Python it spends
# most of its time on overhead. We run **16 CartPole copies side by side** (a Gymnasium vector env) and make one
# TD(0) update per vector step from the 16 transitions: still a one-step actor-critic, with a less noisy
# gradient.
#
# One Gymnasium 1.x detail matters here: vector envs **reset a finished copy on the next call to `step`**
# ("next-step autoreset"). On that call the copy ignores our action and returns its first observation of the
# new episode with reward 0. That transition (last observation of the old episode → first of the new) never
# happened, so we mask it out with `valid = not done_on_previous_step`. Because the step on which an episode
# ends returns the *real* final observation, the truncated case needs no special code: $V(s_{t+1})$ is already
# $V(s_{\text{final}})$.

# %% tags=["nb01-td0"]
def train_td0(seed: int, total_steps: int, num_envs: int = 16, lr_actor: float = 1e-3, lr_critic: float = 3e-3,
              gamma: float = 0.99, actor_weight: str = "td_error", snapshots: list | None = None,
              snapshot_every: int = 100) -> History:
    """Train a one-step actor-critic on CartPole-v1 for `total_steps` env steps (all copies counted).

    Returns a course_lib History: one UpdateRow per update and one Episode per finished training episode.
    If a list is passed as `snapshots`, (env steps, actor state_dict, critic state_dict) tuples are appended to
    it before training and every `snapshot_every` updates (this does not change the run).
    """
    torch.manual_seed(seed)
    envs = gym.make_vec("CartPole-v1", num_envs=num_envs)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs_dim, n_actions = envs.single_observation_space.shape[0], int(envs.single_action_space.n)
    actor, critic = make_net(obs_dim, n_actions), make_net(obs_dim, 1)
    # two optimisers, two learning rates (fused=True: the same Adam maths in fewer, faster CPU kernels)
    opt_actor = torch.optim.Adam(actor.parameters(), lr=lr_actor, fused=True)
    opt_critic = torch.optim.Adam(critic.parameters(), lr=lr_critic, fused=True)

    history = History()
    if snapshots is not None:
        snapshots.append((0, copy.deepcopy(actor.state_dict()), copy.deepcopy(critic.state_dict())))
    obs, _ = envs.reset(seed=seed)
    prev_done = np.zeros(num_envs, dtype=bool)
    ep_return, ep_length = np.zeros(num_envs), np.zeros(num_envs, dtype=int)
    steps = 0
    while steps < total_steps:
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        with torch.no_grad():
            actions = Categorical(logits=actor(obs_t)).sample()
        next_obs, rewards, terminated, truncated, _ = envs.step(actions.numpy())
        steps += num_envs
        valid = ~prev_done  # False for the fake "reset" transition of next-step autoreset
        ep_return += rewards * valid
        ep_length += valid
        done = terminated | truncated
        for i in np.flatnonzero(done):
            history.add_episode(steps, ep_return[i], ep_length[i])
            ep_return[i], ep_length[i] = 0.0, 0

        if valid.any():
            out = td0_losses(actor, critic, obs_t, actions,
                             torch.as_tensor(rewards, dtype=torch.float32),
                             torch.as_tensor(next_obs, dtype=torch.float32),
                             torch.as_tensor(terminated, dtype=torch.float32), gamma,
                             valid=torch.as_tensor(valid, dtype=torch.float32), actor_weight=actor_weight)
            opt_actor.zero_grad()
            out.actor_loss.backward()
            opt_actor.step()
            opt_critic.zero_grad()
            out.critic_loss.backward()
            opt_critic.step()
            history.append(UpdateRow(steps, history.recent_return_mean(20), policy_loss=out.actor_loss.item(),
                                     value_loss=out.critic_loss.item(), entropy=out.entropy.item()))
            if snapshots is not None and len(history) % snapshot_every == 0:
                snapshots.append((steps, copy.deepcopy(actor.state_dict()), copy.deepcopy(critic.state_dict())))
        prev_done, obs = done, next_obs
    envs.close()
    return history


def td0_prefix(history: History, n: int = PREFIX_UPDATES) -> dict[str, list[float]]:
    """The losses and entropy of a run's first `n` updates: a fingerprint of the code and its settings."""
    return {name: [float(x) for x in history.column(name)[:n]] for name in ("policy_loss", "value_loss", "entropy")}


# %% [markdown]
# ## 4. Experiments
#
# ### 4.1 Our one-step actor-critic on CartPole, five seeds
# Every run below is seeded. Each curve is the mean over the five seeds of "mean return of the last 20 training
# episodes" (the maximum is 500), and its band is the **95 % bootstrap confidence interval of that mean over
# the 5 seeds** (resample the five seeds with replacement thousands of times; the band holds the middle 95 %
# of the resampled means). With five seeds such an interval is rough, but unlike a min–max band it says how well the
# *mean* is pinned down. The cell also measures two reference levels, a policy that picks at random and one
# that always pushes left. The runs are short (16 000 env steps each) so that the notebook stays fast. Each
# run with the TD error also keeps a copy of both networks every 100 updates, for section 4.4.

# %%
def ci_text(values, fmt: str = ".1f") -> str:
    """'mean [low, high]': the mean over seeds and its 95 % bootstrap confidence interval."""
    ci = bootstrap_ci(np.asarray(values, dtype=float))
    return f"{ci.estimate:{fmt}} [{ci.low:{fmt}}, {ci.high:{fmt}}]"


def fixed_policy_return(choose, n_episodes: int = 100, seed: int = SEED) -> float:
    """Mean undiscounted return of a policy that ignores the state: choose(rng) -> action, per step."""
    env, rng, total = gym.make("CartPole-v1"), np.random.default_rng(seed), 0.0
    for k in range(n_episodes):
        env.reset(seed=seed + k)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(choose(rng))
            total += reward
            done = terminated or truncated
    env.close()
    return total / n_episodes


RANDOM_RETURN = fixed_policy_return(lambda rng: int(rng.integers(2)))
ALWAYS_LEFT_RETURN = fixed_policy_return(lambda rng: 0)
print(f"reference levels over 100 episodes: random policy {RANDOM_RETURN:.1f}, always push left {ALWAYS_LEFT_RETURN:.1f}")

# (env steps, actor weights, critic weights) every 100 updates, one list per seed
td0_snapshots_by_seed: list[list] = [[] for _ in SEEDS]
td0_runs, value_weighted_runs = [], []
with tqdm(total=2 * len(SEEDS), desc="one-step actor-critic runs") as bar:
    for seed, snapshots in zip(SEEDS, td0_snapshots_by_seed):
        td0_runs.append(train_td0(seed, TD0_STEPS, snapshots=snapshots))
        bar.update()
    for seed in SEEDS:
        value_weighted_runs.append(train_td0(seed, TD0_STEPS, actor_weight="value"))
        bar.update()
td0_snapshots = td0_snapshots_by_seed[0]  # the seed-0 run, looked at in section 4.4

# %% [markdown]
# ### 4.2 Detaching is necessary, but $V(s)$ is not an advantage
# > **Common misconception.** When the critic leaks gradient into the actor's loss, the fix is
# > `actor_loss = -log_prob * critic(state).detach()`.
# >
# > **What is true:** detaching stops the leak, but the weight is still $V(s)$, and section 2.2 showed that its
# > expected gradient is zero: the actor gets noise instead of a signal. The weight must be an advantage
# > estimate, detached, such as the TD error $r + \gamma (1 - \text{terminated}) V(s') - V(s)$. The evidence is
# > the experiment below: same code, same seeds, only the weight differs.

# %%
fig, ax = plt.subplots()
plots.learning_curves({"weight = TD error (correct)": td0_runs,
                       "weight = V(s) detached (common wrong fix)": value_weighted_runs}, ax=ax, band="ci",
                      title="One-step actor-critic on CartPole-v1")
ax.axhline(RANDOM_RETURN, color="0.5", lw=1, ls=":")
ax.text(TD0_STEPS, RANDOM_RETURN + 3, "random policy", color="0.4", fontsize=8, ha="right")
plots.show(fig, alt="Learning curves of two one-step actor-critics on CartPole-v1 that differ only in the "
                    "weight of the actor's loss, the TD error (correct) against the detached value V(s) (a "
                    "common wrong fix), with a dotted line at the random policy's return.")
final_td = np.array([h.recent_return_mean(20) for h in td0_runs])
final_v = np.array([h.recent_return_mean(20) for h in value_weighted_runs])
entropy_td = np.array([h.column("entropy")[-50:].mean() for h in td0_runs])
entropy_v = np.array([h.column("entropy")[-50:].mean() for h in value_weighted_runs])
ci_final_td, ci_final_v = bootstrap_ci(final_td), bootstrap_ci(final_v)
ci_entropy_td, ci_entropy_v = bootstrap_ci(entropy_td), bootstrap_ci(entropy_v)
print(f"mean over {len(SEEDS)} seeds [95 % bootstrap CI]; per seed in parentheses")
for label, finals, entropies in [("TD error  ", final_td, entropy_td), ("V(s) alone", final_v, entropy_v)]:
    print(f"weight = {label}: final mean return (last 20 episodes) {ci_text(finals)}\n"
          f"                    (per seed {finals.round(1)});\n"
          f"                    policy entropy over the last 50 updates {ci_text(entropies, '.3f')} nats")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Weighted by the TD error, the mean final return lies well above the random policy's level: its whole "
      "95 % CI does",
      bool(ci_final_td.low > 1.5 * RANDOM_RETURN),
      f"TD error: {ci_text(final_td)}; random policy {RANDOM_RETURN:.1f}")
claim("The two weights' confidence intervals do not overlap",
      bool(ci_final_td.low > ci_final_v.high), f"TD error {ci_text(final_td)} vs V(s) {ci_text(final_v)}")
claim("With V(s) alone no seed ends clearly above the random level",
      bool(final_v.max() < 1.5 * RANDOM_RETURN), f"V(s) per seed {final_v.round(1)}; random {RANDOM_RETURN:.1f}")
claim("With V(s) alone most seeds end below the random level",
      bool((final_v < RANDOM_RETURN).sum() > len(SEEDS) / 2), f"V(s) per seed {final_v.round(1)}; random {RANDOM_RETURN:.1f}")
claim("Both weights end with similar entropies: their confidence intervals overlap",
      bool(ci_entropy_td.low < ci_entropy_v.high and ci_entropy_v.low < ci_entropy_td.high),
      f"entropy, TD error {ci_text(entropy_td, '.3f')} vs V(s) {ci_text(entropy_v, '.3f')} nats; ln 2 = 0.693")

# %%
below = [k for k, f in enumerate(final_td) if f < RANDOM_RETURN]  # TD-error seeds that ended below random
peaks = [np.nanmax(td0_runs[k].column("episode_return_mean")) for k in below]
display(Markdown(
    f"The printed numbers are what the plot shows at its right end. With the TD error the mean final return, "
    f"{final_td.mean():.0f}, lies well above the random policy's level ({RANDOM_RETURN:.1f}): its whole 95 % CI "
    f"does, and the two weights' confidence intervals do not overlap. Single seeds vary a lot: the best ended at "
    f"{final_td.max():.0f}, the worst at {final_td.min():.0f}"
    + (f"; {len(below)} of the {len(SEEDS)} ended below the random level after reaching "
       f"{', '.join(f'{peak:.0f}' for peak in peaks)} earlier in the run: a one-step actor-critic can also fall "
       "back. " if below else ". ")
    + f"With $V(s)$ alone no seed ends clearly above the random level (the best ends at {final_v.max():.1f}), and "
    f"{int((final_v < RANDOM_RETURN).sum())} of the {len(SEEDS)} end below it."))

# %% [markdown]
# Why below? With $V(s)$ as the weight, every sampled action is pushed up by a positive weight, the pushes
# cancel only on average, and the random walk they cause tends to drift towards a policy that mostly pushes one
# way, which scores *below* random (the always-push-left level printed in section 4.1 is where that ends). For
# reference, the entropy of a 50/50 choice is $\ln 2 \approx 0.693$ nats; lower means more decided. Note that a
# falling entropy alone does not say whether the policy learned something or collapsed: both weights end with
# similar entropies (their confidence intervals overlap), only the returns tell them apart.
#
# ### 4.3 The library's A2C, five seeds
# `course_lib.algos.a2c` is the synchronous version of A3C (Mnih et al. 2016). We set it up as the classic A2C,
# which is our actor-critic with the usual engineering: 8 environments stepped 8 times per update, **multi-step
# returns** instead of one-step targets (each step's return runs to the end of the 8-step rollout, then
# bootstraps from $V$: between 1 and 8 rewards), one optimiser over both networks with the value loss weighted
# by $c_1 = 0.5$, gradient-norm clipping, orthogonal initialisation and a learning rate that decays to 0. Every
# setting the text relies on is written out below. (The library's default A2C uses GAE($\lambda$) advantages
# instead, the subject of notebook 03.) The library also records diagnostics after every update.

# %%
import textwrap

from course_lib.algos import a2c
from course_lib.record import steps_to_threshold

A2C_STEPS = 30_000
a2c_config = a2c.A2CConfig(
    num_envs=8, num_steps=8,  # 8 envs x 8 steps = 64 env steps per update
    use_gae=False,  # classic A2C: returns run to the rollout's end, then bootstrap from V
    norm_adv=False,  # plain advantages R_t - V(s_t), as in the maths above
    learning_rate=1e-3, anneal_lr=True,  # one Adam optimiser for both networks, rate decaying to 0
    vf_coef=0.5, max_grad_norm=0.5, ent_coef=0.0,
)
print(textwrap.fill(repr(a2c_config), width=100, subsequent_indent="    "))
a2c_runs, a2c_agents = [], []
for seed in tqdm(SEEDS, desc="A2C runs"):
    agent, hist = a2c.train(a2c_config, seed=seed, total_steps=A2C_STEPS, progress=False)
    a2c_runs.append(hist)
    a2c_agents.append(agent)
A2C_UPDATES = len(a2c_runs[0])
print(f"{A2C_UPDATES} updates of {a2c_config.batch_size} env steps each per run")

# %%
fig, ax = plt.subplots()
plots.learning_curves({"A2C (course_lib, up to 8-step returns)": a2c_runs, "one-step actor-critic (ours)": td0_runs},
                      ax=ax, band="ci", title="CartPole-v1: mean return of the last 20 training episodes")
ax.legend(fontsize=8)
plots.show(fig, alt="Learning curves on CartPole-v1 of the library's A2C (up to 8-step returns) and of this "
                    "notebook's one-step actor-critic: mean return of the last 20 training episodes against "
                    "env steps.")
final_a2c = np.array([h.recent_return_mean(20) for h in a2c_runs])
for seed, h in zip(SEEDS, a2c_runs):
    print(f"A2C seed {seed}: final mean return {h.recent_return_mean(20):6.1f}; "
          f"first reached 195: {steps_to_threshold(h, 195.0)} env steps")
print(f"A2C final mean return, mean over seeds [95 % bootstrap CI]: {ci_text(final_a2c)}")
print(f"ours at {TD0_STEPS:,} steps, mean over seeds [95 % bootstrap CI]: {ci_text(final_td)}")

# %% [markdown]
# Compare the two where both exist (our runs stop at 16 000 steps). They are not an ablation: A2C differs from
# our loop in several ways at once (listed above); notebook 03 takes the $n$-step and GAE part apart.
# The diagnostics the library logs tell us *how* the learning went. **Explained variance**
# $1 - \mathrm{Var}[R - V] / \mathrm{Var}[R]$ measures how much of the spread of the critic's targets $R$ its
# predictions account for (1 = all of it, 0 = no better than a constant, negative = worse); **entropy** measures
# how random the policy still is.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
plots.learning_curves({"A2C": a2c_runs}, y="explained_variance", ax=axes[0], band="ci",
                      title="critic: explained variance")
plots.learning_curves({"A2C": a2c_runs}, y="entropy", ax=axes[1], band="ci", title="actor: policy entropy (nats)")
axes[1].axhline(np.log(2), color="0.5", ls=":", lw=1)
plt.tight_layout()
plots.show(fig, alt="A2C's diagnostics over training: the critic's explained variance (left) and the actor's "
                    "policy entropy in nats (right), with a dotted line at log 2, the entropy of a uniform "
                    "choice between two actions.")
a2c_first = {name: np.array([np.nanmean(h.column(name)[:20]) for h in a2c_runs])
             for name in ("explained_variance", "entropy", "approx_kl")}
a2c_last = {name: np.array([np.nanmean(h.column(name)[-20:]) for h in a2c_runs]) for name in a2c_first}
ev_peak = plots.summarise_seeds([(h.column("env_steps"), h.column("explained_variance")) for h in a2c_runs]).mean.max()
print(f"mean over {len(SEEDS)} seeds [95 % bootstrap CI]")
for name in a2c_first:
    fmt = ".2e" if name == "approx_kl" else ".3f"
    print(f"{name:19s} first 20 updates {ci_text(a2c_first[name], fmt)}\n"
          f"{'':19s} last 20 updates  {ci_text(a2c_last[name], fmt)}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("The entropy falls from ln 2 as the actor becomes more decisive",
      bool(np.all(a2c_first["entropy"] > 0.68) and np.all(a2c_last["entropy"] < a2c_first["entropy"] - 0.05)),
      f"entropy first 20 updates {a2c_first['entropy'].round(3)}, last 20 {a2c_last['entropy'].round(3)}")
claim("A2C's explained variance stays low throughout and ends near 0 on every seed",
      bool(ev_peak < 0.4 and np.all(np.abs(a2c_last["explained_variance"]) < 0.1)),
      f"peak of the mean over seeds {ev_peak:.2f}; last 20 updates, per seed: {a2c_last['explained_variance'].round(3)}")

# %%
display(Markdown(
    "(The bands are 95 % bootstrap confidence intervals of the mean over the five seeds; `approx_kl` is how far "
    "each update moved the policy, an estimate of $\\mathrm{KL}(\\pi_{\\text{old}} \\Vert \\pi_{\\text{new}})$ "
    "that notebook 05 explains.) The entropy falls from $\\ln 2$ as the actor becomes more decisive. The explained "
    f"variance is the surprise: it stays low throughout (its mean over seeds peaks at {ev_peak:.2f}) and ends "
    f"near 0 on every seed ({a2c_last['explained_variance'].min():.3f} to {a2c_last['explained_variance'].max():.3f} "
    "over the last 20 updates), while the returns climb. A critic that explains almost none of its targets is "
    "**lagging behind**; section 4.4 measures by how much and section 4.5 finds out why."))

# %% [markdown]
# ### 4.4 Look inside: the critic's prediction against what really happened
# We let an agent play one episode from a fixed start, sampling its actions, and record along the episode
#
# * the critic's prediction $V(s_t)$;
# * the discounted return that really followed, $G_t = \sum_k \gamma^k r_{t+k}$, cut where the episode ended;
# * if the episode was **truncated** at 500 steps, also $G_t + \gamma^{T-t} V(s_T)$: the realised part plus the
#   critic's value of the final state. The critic is trained to predict this one, because the time limit is not
#   part of the task (section 2.6);
# * the actor's probability of pushing right, $\pi(\text{right} \mid s_t)$, next to the pole's angle.
#
# An agent here is any function that maps a batch of observations to (action probabilities, values). Every
# agent, A2C's and ours, plays the same episode start, once per seed.

# %%
from course_lib.advantages import discounted_returns


class EpisodeTrace(NamedTuple):
    """One episode seen through an agent; arrays of shape (T,) unless noted."""

    obs: np.ndarray  # (T, 4) observations s_t
    p_right: np.ndarray  # pi(right | s_t)
    values: np.ndarray  # V(s_t)
    ret: np.ndarray  # realised discounted return G_t, cut at the episode's end
    ret_boot: np.ndarray  # G_t + gamma^(T-t) V(s_T) if truncated, else equal to ret
    truncated: bool


@torch.no_grad()
def play_episode(policy_and_value, seed: int, gamma: float = 0.99) -> EpisodeTrace:
    """Play one CartPole-v1 episode from reset(seed=seed), sampling actions from the agent's policy.

    policy_and_value: maps obs (1, 4) to (probs (1, 2), values (1,)).
    """
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    gen = torch.Generator().manual_seed(seed)
    observations, p_right, values, rewards = [], [], [], []
    terminated = truncated = False
    while not (terminated or truncated):
        probs, value = policy_and_value(torch.as_tensor(obs, dtype=torch.float32)[None])
        action = torch.multinomial(probs[0], 1, generator=gen).item()
        observations.append(obs)
        p_right.append(probs[0, 1].item())
        values.append(value.item())
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(reward)
    env.close()
    T = len(rewards)
    term_flags, trunc_flags = torch.zeros(T), torch.zeros(T)
    (term_flags if terminated else trunc_flags)[-1] = 1.0
    rewards_t = torch.tensor(rewards)
    # only the last entry matters: the bootstrap V(s_T) of a truncated episode
    next_values = torch.zeros(T)
    next_values[-1] = policy_and_value(torch.as_tensor(obs, dtype=torch.float32)[None])[1].item()
    ret = discounted_returns(rewards_t, term_flags, trunc_flags, gamma)
    ret_boot = discounted_returns(rewards_t, term_flags, trunc_flags, gamma, next_values=next_values)
    return EpisodeTrace(np.array(observations), np.array(p_right), np.array(values), ret.numpy(),
                        ret_boot.numpy(), bool(truncated))


def a2c_policy_and_value(agent):
    """The (probs, values) function of a course_lib ActorCriticAgent."""
    return lambda obs: (agent.distribution(obs).probs, agent.value(obs))


def td0_policy_and_value(snapshot):
    """The (probs, values) function of one snapshot (env steps, actor weights, critic weights) of train_td0."""
    actor, critic = make_net(4, 2), make_net(4, 1)
    actor.load_state_dict(snapshot[1])
    critic.load_state_dict(snapshot[2])
    return lambda obs: (torch.softmax(actor(obs), dim=-1), critic(obs).squeeze(-1))


EPISODE_SEED = 1234
end_traces = {"A2C": [play_episode(a2c_policy_and_value(a), EPISODE_SEED) for a in a2c_agents],
              "ours": [play_episode(td0_policy_and_value(s[-1]), EPISODE_SEED) for s in td0_snapshots_by_seed]}
v0_over_g0 = {name: np.array([tr.values[0] / tr.ret_boot[0] for tr in traces])
              for name, traces in end_traces.items()}
v0 = {name: np.array([tr.values[0] for tr in traces]) for name, traces in end_traces.items()}
for name, traces in end_traces.items():
    for seed, tr in zip(SEEDS, traces):
        print(f"{name:4s} seed {seed}, end of training: V(s_0) = {tr.values[0]:5.1f}, realised G_0 ="
              f" {tr.ret_boot[0]:5.1f} ({len(tr.values)} steps): V(s_0) / G_0 = {tr.values[0] / tr.ret_boot[0]:.2f}")
    print(f"{name}: V(s_0) / G_0, mean over {len(SEEDS)} seeds [95 % bootstrap CI]"
          f" {ci_text(v0_over_g0[name], '.2f')}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("A2C's critic predicts far less than what follows: under half of G_0 on every seed",
      bool(np.all(v0_over_g0["A2C"] < 0.5)), f"A2C V(s_0)/G_0 per seed {v0_over_g0['A2C'].round(2)}")
a2c_flatness = np.array([np.ptp(tr.values) / np.ptp(tr.ret_boot) for tr in end_traces["A2C"]])
claim("With V too low and nearly flat: along each A2C episode V(s_t) spans under a quarter of what G_t spans",
      bool(np.all(a2c_flatness < 0.25)), f"span of V / span of G per seed {a2c_flatness.round(3)}")
claim("Our critics have climbed further than A2C's: V(s_0) is higher on every seed",
      bool(v0["ours"].min() > v0["A2C"].max()), f"V(s_0) ours {v0['ours'].round(1)} vs A2C {v0['A2C'].round(1)}")

# %%
over = [seed for seed, r in zip(SEEDS, v0_over_g0["ours"]) if r > 1.0]
display(Markdown(
    f"With these settings and this short budget, A2C's critic predicts far less than what follows: $V(s_0)$ is "
    f"{v0_over_g0['A2C'].min():.0%} to {v0_over_g0['A2C'].max():.0%} of the return $G_0$ that really followed "
    f"(under half on every seed), and it is nearly the same number, about {v0['A2C'].mean():.0f}, for every seed. "
    f"It has not caught up with its improving actor; section 4.5 shows that the optimiser, not the data, holds it "
    f"back. Our one-step actor-critic's critics have climbed further: $V(s_0)$ is {v0['ours'].min():.0f} to "
    f"{v0['ours'].max():.0f}, higher than A2C's on every seed. "
    + (f"That is not always closer to the truth: on seed{'s' if len(over) > 1 else ''} "
       f"{', '.join(map(str, over))} the episode played here is short "
       f"({', '.join(str(len(end_traces['ours'][SEEDS.index(k)].values)) for k in over)} steps) and the critic "
       f"predicts more than what followed ($V(s_0)/G_0$ up to {v0_over_g0['ours'].max():.1f}). When episodes get "
       f"shorter (an actor that fell back late in training, or an unlucky episode), a critic still predicting the "
       f"longer episodes it was trained on over-predicts: it trails its actor in both directions." if over else
       f"It covers {v0_over_g0['ours'].min():.0%} to {v0_over_g0['ours'].max():.0%} of $G_0$.")))

# %% [markdown]
# Why does the actor improve anyway? A2C's advantage is $A_t = R_t - V(s_t)$ with the multi-step return
# $R_t = r_t + \dots + \gamma^{n-1} r_{t+n-1} + \gamma^n V(s_{t+n})$ ($n \le 8$: up to the rollout's end). The
# $-V(s_t)$ part is a baseline, and by section 2.2 even a poor baseline adds no bias; it just fails to remove
# noise. The bootstrap term $\gamma^n V(s_{t+n})$ does carry the critic's error: with $V$ too low and nearly
# flat, the actor mostly learns from what happens within the next few steps, such as the pole falling. On
# CartPole that is enough; on a task whose rewards come much later it would not be.
#
# We now look inside our seed-0 run at two moments, early (after 100 updates) and at the end of training,
# playing the same episode start:

# %%
def draw_trace(axes, trace: EpisodeTrace, title: str) -> None:
    """Top axis: V(s_t) against the realised returns; bottom axis: pi(right|s_t) and the pole angle."""
    t = np.arange(len(trace.values))
    axes[0].plot(t, trace.values, label="critic $V(s_t)$", lw=2)
    axes[0].plot(t, trace.ret, label="realised $G_t$", ls="--")
    if trace.truncated:
        axes[0].plot(t, trace.ret_boot, label="$G_t + \\gamma^{T-t} V(s_T)$", ls=":")
    axes[0].set_title(title, fontsize=10)
    axes[0].set_ylabel("discounted return")
    axes[0].legend(fontsize=8)
    axes[1].plot(t, trace.p_right, lw=1, color=plots.PALETTE[3])
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].set_ylabel("$\\pi$(right $\\mid s_t$)")
    axes[1].set_xlabel("step t of the episode")
    twin = axes[1].twinx()
    twin.plot(t, np.degrees(trace.obs[:, 2]), lw=1, color="0.4", alpha=0.6)
    twin.set_ylabel("pole angle (deg)", color="0.4")


def trace_summary(trace: EpisodeTrace) -> str:
    """The numbers a trace plot shows, in one line."""
    end = "truncated at the time limit" if trace.truncated else "terminated (pole fell)"
    err = np.abs(trace.values - trace.ret_boot).mean()
    sure = np.maximum(trace.p_right, 1 - trace.p_right).mean()
    # how closely pi(right | s_t) follows the pole's angular velocity (observation index 3)
    corr = np.corrcoef(trace.p_right, trace.obs[:, 3])[0, 1]
    return (f"{len(trace.values)} steps, {end};\n    V(s_0) = {trace.values[0]:.1f} vs G_0 ="
            f" {trace.ret_boot[0]:.1f}; mean |V(s_t) - G_t| = {err:.1f}; mean max(pi(left), pi(right)) ="
            f" {sure:.2f};\n    correlation of pi(right) with the pole's angular velocity = {corr:.2f}")


traces = [play_episode(td0_policy_and_value(s), EPISODE_SEED) for s in td0_snapshots]  # every checkpoint
early, late = 1, len(traces) - 1
fig, axes = plt.subplots(2, 2, figsize=(11, 5.5), sharex="col", gridspec_kw={"height_ratios": [3, 2]})
for col, k in enumerate((early, late)):
    draw_trace(axes[:, col], traces[k], f"after {td0_snapshots[k][0]:,} env steps")
    print(f"after {td0_snapshots[k][0]:>6,} env steps: {trace_summary(traces[k])}")
plt.tight_layout()
plots.show(fig, alt="One CartPole episode played by the seed-0 run early in training (left column) and at "
                    "the end (right column). Top row: the critic's prediction V(s_t) against the realised "
                    "discounted return G_t along the episode. Bottom row: the actor's probability of pushing "
                    "right, and the pole angle in degrees.")

# %%
def trace_stats(trace: EpisodeTrace) -> dict[str, float]:
    """The numbers the prose below reads off one trace."""
    return {
        "steps": len(trace.values),
        "v0": trace.values[0], "g0": trace.ret_boot[0],
        "gap": trace.ret_boot[0] - trace.values[0],  # G_0 - V(s_0), in return points
        "share": trace.values[0] / trace.ret_boot[0],  # V(s_0) / G_0
        "v_range": trace.values.max() - trace.values.min(),  # how much V(s_t) changes along the episode
        "g_range": trace.ret_boot.max() - trace.ret_boot.min(),
        "sure": np.maximum(trace.p_right, 1 - trace.p_right).mean(),  # mean of the larger action probability
        "corr": np.corrcoef(trace.p_right, trace.obs[:, 3])[0, 1],  # pi(right) vs the pole's angular velocity
    }


e, l = trace_stats(traces[early]), trace_stats(traces[late])
display(Markdown(f"""What to look for:

* **Early**, the episode is short ({e['steps']} steps) and the critic's values hardly change along it: $V(s_t)$
  spans {e['v_range']:.1f} return points while the realised return spans {e['g_range']:.1f}. The critic predicts
  about the same for every state, and less than what follows ($V(s_0)$ = {e['v0']:.1f} against $G_0$ =
  {e['g0']:.1f}). The actor already leans the right way, as its $\\pi(\\text{{right}} \\mid s_t)$ follows the pole's
  angular velocity (correlation {e['corr']:.2f}), but timidly: its larger probability averages {e['sure']:.2f}
  (0.5 is a coin toss, 1 a certainty).
* **Late**, the episode is longer ({l['steps']} steps). $V(s_0)$ has grown with the returns, from {e['v0']:.1f}
  to {l['v0']:.1f}, and now covers {l['share']:.0%} of $G_0$ instead of {e['share']:.0%}; in return points,
  though, the gap $G_0 - V(s_0)$ is {l['gap']:.1f}, against {e['gap']:.1f} early: as a share the critic has
  caught up, in absolute terms it has not. Its values now change along the episode (a span of
  {l['v_range']:.1f} points): it has started to tell safer states from more dangerous ones. It still sits below
  the realised return at the start, the lag of bootstrapped targets (section 2.4). If an episode ends at the
  time limit instead (try the slider below), the realised $G_t$ must fall to 0 when the clock runs out, but
  $V(s_t)$ should not: it follows the bootstrapped target, since the agent's value ignores the time limit.
* The actor is now far more decisive (its larger probability averages {l['sure']:.2f}, against {e['sure']:.2f}
  early) and still follows the angular velocity (correlation {l['corr']:.2f}): it pushes right when the pole
  swings right, which moves the cart back under the pole."""))

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Early, the critic's values hardly change along the episode and predict less than what follows",
      bool(e["v_range"] < 0.5 * e["g_range"] and e["v0"] < e["g0"]),
      f"early: V spans {e['v_range']:.1f}, G spans {e['g_range']:.1f}; V(s_0) {e['v0']:.1f} vs G_0 {e['g0']:.1f}")
claim("Early, the actor already leans the right way, but timidly",
      bool(e["corr"] > 0.5 and e["sure"] < 0.75), f"early: correlation {e['corr']:.2f}, mean larger probability {e['sure']:.2f}")
claim("Late, the episode is longer, V(s_0) has grown and covers a larger share of G_0",
      bool(l["steps"] > e["steps"] and l["v0"] > e["v0"] + 10 and l["share"] > e["share"] + 0.1),
      f"steps {e['steps']} -> {l['steps']}; V(s_0) {e['v0']:.1f} -> {l['v0']:.1f}; "
      f"share {e['share']:.2f} -> {l['share']:.2f}; gap {e['gap']:.1f} -> {l['gap']:.1f}")
claim("Late, the critic's values change along the episode and still sit below the realised return at the start",
      bool(l["v_range"] > 2 * e["v_range"] and l["v0"] < l["g0"]),
      f"V span {e['v_range']:.1f} -> {l['v_range']:.1f}; late V(s_0) {l['v0']:.1f} vs G_0 {l['g0']:.1f}")
claim("The actor is now far more decisive and still follows the angular velocity",
      bool(l["sure"] > e["sure"] + 0.1 and l["corr"] > 0.5),
      f"mean larger probability {e['sure']:.2f} -> {l['sure']:.2f}; correlation {l['corr']:.2f}")

# %% [markdown]
# ### 4.5 Why A2C's critic lags: Adam's steps against unscaled targets
# On CartPole the returns a critic must predict are large: up to $1/(1-\gamma) = 100$ with $\gamma = 0.99$,
# while a freshly initialised network outputs numbers near 0. Adam, the optimiser of both our loop and A2C,
# moves each weight by **at most about one learning rate per step, whatever the size of the error**: its step
# is the gradient divided by a running estimate of the gradient's own size. Climbing from near 0 to the returns
# of a good CartPole policy, which approach 100, is then a question of how many steps, and how large, the
# schedule allows. A2C's schedule allows few: a few hundred updates, at a learning rate decaying from $10^{-3}$
# to 0. Our loop's critic gets a thousand steps at a constant
# $3 \cdot 10^{-3}$.
#
# The test below takes bootstrapping, moving targets and the actor out of the picture. A fresh critic, built like
# A2C's (same layers and initialisation), is fitted by plain regression to the **true** returns of the episodes
# that A2C's agents played in section 4.4, with exactly A2C's optimiser settings: Adam with the same $\epsilon$,
# the same number of steps and the same decaying learning rate, the value-loss weight $c_1 = 0.5$ and the
# gradient clip. Once on the returns as they are, once on the returns divided by 100 (predictions multiplied
# back by 100), which is what a reward scale does (notebook 06).

# %%
from course_lib.diagnostics import explained_variance
from course_lib.networks import Critic

fit_obs = torch.as_tensor(np.concatenate([tr.obs for tr in end_traces["A2C"]]), dtype=torch.float32)
fit_ret = torch.as_tensor(np.concatenate([tr.ret_boot for tr in end_traces["A2C"]]), dtype=torch.float32)


def fit_critic(scale: float, n_steps: int = A2C_UPDATES) -> tuple[np.ndarray, Tensor]:
    """Regress a fresh A2C-style critic on fit_ret / scale with A2C's optimiser and schedule.

    Returns the mean prediction (times `scale`) after each step, shape (n_steps,), and the final predictions
    times `scale`, shape (N,).
    """
    torch.manual_seed(SEED)
    critic = Critic(4, hidden=a2c_config.hidden)  # orthogonal initialisation, as in the library's agents
    opt = torch.optim.Adam(critic.parameters(), lr=a2c_config.learning_rate, eps=a2c_config.adam_eps)
    mean_prediction = []
    for k in range(n_steps):
        for group in opt.param_groups:  # A2C's schedule: lr decays linearly to 0 over the run
            group["lr"] = a2c_config.learning_rate * (1.0 - k / n_steps)
        # A2C's value term: c1 * 1/2 mean (V - R)^2, then the global gradient-norm clip
        loss = a2c_config.vf_coef * 0.5 * ((critic(fit_obs) - fit_ret / scale) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(critic.parameters(), a2c_config.max_grad_norm)
        opt.step()
        mean_prediction.append(critic(fit_obs).mean().item() * scale)
    with torch.no_grad():
        return np.array(mean_prediction), critic(fit_obs) * scale


fits = {"returns as they are": fit_critic(1.0), "returns / 100": fit_critic(100.0)}
fit_ev = {name: explained_variance(pred, fit_ret) for name, (_, pred) in fits.items()}
fig, ax = plt.subplots(figsize=(7, 3.4))
for name, (curve, _) in fits.items():
    ax.plot(np.arange(1, A2C_UPDATES + 1), curve, label=f"targets: {name} (explained variance {fit_ev[name]:.2f})")
ax.axhline(fit_ret.mean().item(), color="0.4", ls="--", lw=1, label="mean of the true returns")
ax.set_xlabel("Adam step (A2C's schedule: learning rate 1e-3 decaying to 0)")
ax.set_ylabel("mean prediction (return units)")
ax.set_title(f"A fresh critic regressed on fixed, true returns ({len(fit_ret)} states)", fontsize=10)
ax.legend(fontsize=8)
plots.show(fig, alt="Mean prediction of a fresh critic regressed on fixed true returns, over Adam steps, for "
                    "targets as they are and for targets divided by 100, with a dashed line at the mean of "
                    "the true returns.")
a2c_v = np.array([tr.values.mean() for tr in end_traces["A2C"]])
raw_mean, scaled_mean = fits["returns as they are"][0][-1], fits["returns / 100"][0][-1]
target_mean = fit_ret.mean().item()
print(f"{len(fit_ret)} states; true returns: mean {fit_ret.mean():.1f}, std {fit_ret.std():.1f}")
for name, (curve, pred) in fits.items():
    print(f"targets {name:20s}: mean prediction after {A2C_UPDATES} steps {curve[-1]:5.1f};"
          f" explained variance {fit_ev[name]:.3f}")
print(f"A2C's own critics (section 4.4), mean V(s_t) along their episodes: {a2c_v.round(1)};\n"
      f"    their explained variance at the end of training: {a2c_last['explained_variance'].round(3)}")
lr_budget_a2c = sum(a2c_config.learning_rate * (1 - k / A2C_UPDATES) for k in range(A2C_UPDATES))
lr_budget_ours = 3e-3 * len(td0_runs[0])
print(f"sum of the learning rates over training (how far Adam can move one weight):\n"
      f"    A2C {lr_budget_a2c:.2f}, our critic {lr_budget_ours:.2f} ({len(td0_runs[0])} updates at 3e-3)")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Even on fixed, true returns, A2C's optimiser settings lift a fresh critic only part of the way: "
      "its mean prediction stays under half the mean return, and its explained variance near 0",
      bool(raw_mean < 0.5 * target_mean and fit_ev["returns as they are"] < 0.1),
      f"mean prediction {raw_mean:.1f} vs mean return {target_mean:.1f}; explained variance "
      f"{fit_ev['returns as they are']:.3f}")
claim("The fitted critic lands where A2C's own critics are",
      bool(np.all(np.abs(a2c_v - raw_mean) < 0.5 * raw_mean)),
      f"regression's mean prediction {raw_mean:.1f}; A2C critics' mean V along their episodes {a2c_v.round(1)}")
claim("With the returns divided by 100 the same optimiser reaches the returns' level and explains much of "
      "their spread",
      bool(abs(scaled_mean - target_mean) < 0.1 * target_mean and fit_ev["returns / 100"] > 0.3),
      f"mean prediction {scaled_mean:.1f} vs mean return {target_mean:.1f}; explained variance "
      f"{fit_ev['returns / 100']:.3f}")
claim("Our critic's schedule allows more than ten times A2C's total step size",
      bool(lr_budget_ours > 10 * lr_budget_a2c), f"sum of learning rates: ours {lr_budget_ours:.2f}, A2C {lr_budget_a2c:.2f}")

# %%
display(Markdown(
    f"The returns are fixed and true, the states are the ones A2C met, and still, after {A2C_UPDATES} steps with "
    f"A2C's settings, the critic's mean prediction is {raw_mean:.1f} against a mean return of {target_mean:.1f}, "
    f"with an explained variance of {fit_ev['returns as they are']:.2f}. That is where A2C's own critics ended "
    f"(mean $V$ along their episodes {a2c_v.min():.0f} to {a2c_v.max():.0f}). The same optimiser on the returns "
    f"divided by 100 reaches their level ({scaled_mean:.1f}) and explains {fit_ev['returns / 100']:.0%} of their "
    f"spread. So A2C's low explained variance is not a property of the task or of the data: with this "
    f"learning-rate schedule each weight can move by at most about the sum of the learning rates, "
    f"{lr_budget_a2c:.2f}, over the whole run, and even with all weights pulling together the output does not "
    f"climb to targets of up to {fit_ret.max():.0f} (our critic's sum is {lr_budget_ours:.1f}, which is why it climbed further in "
    f"section 4.4). While the critic is still climbing, its loss is dominated by one error common to all states, "
    f"so its steps raise every prediction alike; the differences between states, which are all that explained "
    f"variance measures (it ignores an offset common to every target), are not learned yet.\n\n"
    f"The things to try are the ones section 8 lists: scale the rewards so that the targets are of order 1 "
    f"(notebook 06 measures this for PPO), or give the critic more or larger steps (a longer run, a larger or "
    f"undecayed learning rate). We keep A2C's classic settings here because the lagging critic is "
    f"itself the lesson: the actor still learns (section 4.4 explains why), but from a critic that tells it "
    f"little."))

# %% [markdown]
# ## 5. Explore
#
# ### 5.1 Step through training
# The slider picks one of the saved checkpoints of our seed-0 run (every 100 updates = 1 600 env steps; 0 is
# the untrained agent); the plot is the same episode start played by that checkpoint. All episodes were played
# above, so moving the slider only redraws. Watch when the critic starts to predict the length of the episode,
# and when the actor's probabilities leave 0.5.

# %%
def show_checkpoint(checkpoint: int) -> None:
    """Draw the episode played by one checkpoint and print its numbers."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    draw_trace(axes, traces[checkpoint], f"checkpoint {checkpoint}: after {td0_snapshots[checkpoint][0]:,} env steps")
    plt.tight_layout()
    plots.show(fig, alt=f"One CartPole episode played by checkpoint {checkpoint} of the seed-0 run. Top: the "
                        "critic's prediction V(s_t) against the realised return G_t. Bottom: the actor's "
                        "probability of pushing right, and the pole angle.")
    print(trace_summary(traces[checkpoint]))


widgets.interactive(show_checkpoint, checkpoint=widgets.IntSlider(
    value=len(traces) - 1, min=0, max=len(traces) - 1, step=1, description="checkpoint", continuous_update=False))

# %% [markdown]
# ### 5.2 The actor's and the critic's learning rates
# > **Common misconception.** "Actor learning rate $10^{-4}$, critic $10^{-3}$", as a hyper-parameter table
# > often quoted for this method gives it, is the right setting for an actor-critic.
# >
# > **What is true:** such values are starting points to tune, not laws; the best pair depends on the network,
# > the optimiser, the batch and the budget. The evidence is the grid below and its heat map in section 8.
#
# The grid below was measured with **exactly the code of this notebook** (`train_td0` above, 16 000 steps, the same five seeds)
# for 4 × 4 pairs of learning rates: 80 runs, too many to run here. The script
# `notebooks/scripts/nb01_lr_grid.py` executes the code cells of this notebook's source tagged `nb01-td0`, runs
# the grid and stores it in `notebooks/data/nb01_lr_grid.json` together with its provenance: every setting,
# the seeds, library versions and a hash of the code that made it (regenerate with `make data nb01_lr_grid`,
# about 5 minutes on one core). Loading it fails if the settings or that code have changed since; the cell then
# checks that the first updates of our live seed-0 run of section 4.1 equal the stored ones.

# %%
stored_grid = stored_results.load("nb01_lr_grid")  # raises StaleResult if code or settings changed
assert stored_grid.config["seeds"] == SEEDS and stored_grid.config["total_steps"] == TD0_STEPS
stored_results.assert_same_prefix(stored_grid, td0_prefix(td0_runs[0]))  # our live run reproduces the file's start
grid_runs = {(r["lr_actor"], r["lr_critic"], r["seed"]): r for r in stored_grid.data["runs"]}
lrs_actor, lrs_critic = stored_grid.config["lr_actor"], stored_grid.config["lr_critic"]
print(f"{len(grid_runs)} stored runs ({len(lrs_actor)} x {len(lrs_critic)} learning-rate pairs x "
      f"{len(stored_grid.config['seeds'])} seeds), made {stored_grid.provenance['created']} in "
      f"{stored_grid.provenance['seconds']:.0f} s;\n"
      f"the first {PREFIX_UPDATES} updates of our live run match them")


def show_lr_pair(lr_actor: float, lr_critic: float) -> None:
    """Learning curves of the five seeds for one (actor, critic) learning-rate pair, from the stored grid."""
    runs = [grid_runs[(lr_actor, lr_critic, s)] for s in stored_grid.config["seeds"]]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for r in runs:  # each seed, thin
        ax.plot(r["curve_steps"], r["curve_return"], color="0.6", lw=0.8)
    plots.plot_seeds(ax, [(np.array(r["curve_steps"]), np.array(r["curve_return"])) for r in runs], band="ci",
                     label=f"actor {lr_actor:g}, critic {lr_critic:g}")
    ax.set_ylim(0, 1.08 * np.nanmax([np.nanmax(r["curve_return"]) for r in runs]))  # fits this pair's returns
    ax.set_xlabel("env steps")
    ax.set_ylabel("mean return, last 20 episodes")
    ax.legend(loc="upper left", fontsize=8)
    plots.show(fig, alt="Learning curves of the five seeds (thin grey) and their mean with its 95% bootstrap "
                        f"band for actor learning rate {lr_actor:g} and critic learning rate {lr_critic:g}, "
                        "from the stored grid.")
    finals = np.array([r["final_return"] for r in runs])
    print(f"final mean return per seed: {finals.round(1)}; mean [95 % bootstrap CI] {ci_text(finals)}")


widgets.interactive(
    show_lr_pair,
    lr_actor=widgets.SelectionSlider(options=lrs_actor, value=1e-3, description="actor lr", continuous_update=False),
    lr_critic=widgets.SelectionSlider(options=lrs_critic, value=3e-3, description="critic lr",
                                      continuous_update=False),
)

# %% [markdown]
# ## 6. Check your understanding
# Each check gives feedback on the choice you submit; retries are allowed (the score counts first attempts).

# %%
quiz.show("01.td_error_advantage")

# %%
quiz.show("01.detach_critic")

# %%
quiz.show("01.td_error_terminal")

# %%
quiz.show("01.actor_output")

# %% [markdown]
# **A graded answer cell.** When your instructor collects notebooks, answers are read from cells that start
# with `# QUIZ: <question id>` and assign `answer = ...` (a choice id such as `"b"`, a list of ids, or a
# number). Replace `None` with your answer to the terminal-step question above and run the cell; until then it
# only says why it cannot mark it (and a grader gives it 0 points).

# %%
# QUIZ: 01.td_error_terminal
answer = None
quiz.check("01.td_error_terminal", answer)

# %% [markdown]
# ## 7. Debug the bug
# Each exercise below is a small function with a bug that produces no error message, only wrong learning.
# Edit the function in its cell, run it, then run the check cell below it: it tests your function against a
# reference on random batches and edge cases and prints PASS, or FAIL with the symptom it found (which case,
# what it expected, what it got). Before you change anything, the check shows the FAIL the bug causes; that is
# expected. The FAIL does not name the fix: `exercises.hint("<id>")` gives the next hint, one level at a time.
#
# ### 7.1 The critic leaks into the actor's loss
# The function should return the actor's loss of a one-step actor-critic for a batch. As written it trains
# badly in two ways: minimising it also changes the critic's weights, and even with a perfect critic the actor
# would get no useful signal on average. Find what causes each symptom (sections 2.2 to 2.5 have the ideas you
# need) and fix the function.

# %%
# EXERCISE: 01.detach_critic
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

# %%
result = exercises.check("01.detach_critic", actor_loss)

# %% [markdown]
# A FAIL is expected at first. Stuck? Run `exercises.hint("01.detach_critic")` in a new cell for the next hint
# (several levels: where to look, then the idea, then the fix), and `exercises.solution("01.detach_critic")`
# for a worked solution with an explanation after you have run the check at least once.
#
# ### 7.2 The update descends the objective
# This policy-gradient loss runs without errors, and the agent gets *worse* the longer it trains. Find out why
# and fix it. (A quick test you can run yourself: after one optimiser step on this loss, should the probability
# of an action with a positive advantage go up or down?)

# %%
# EXERCISE: 01.loss_sign
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

# %%
result = exercises.check("01.loss_sign", policy_loss)

# %% [markdown]
# A FAIL is expected at first. Stuck? Run `exercises.hint("01.loss_sign")` in a new cell for the next hint
# (several levels: where to look, then the idea, then the fix), and `exercises.solution("01.loss_sign")` for
# the worked solution after you have run the check at least once.
#
# ## 8. In practice
#
# **Hyper-parameters: starting points with their measured effect.** The heat-map summarises the grid of
# section 5.2: the mean over five seeds of the final return of our one-step actor-critic after 16 000 steps,
# for each pair of learning rates (printed below as a table, with 95 % bootstrap confidence intervals).

# %%
grid_seeds = stored_grid.config["seeds"]
finals_grid = np.array([[[grid_runs[(la, lc, s)]["final_return"] for s in grid_seeds]
                         for lc in lrs_critic] for la in lrs_actor])  # (actor lr, critic lr, seed)
final_grid = finals_grid.mean(axis=-1)
grid_ci = bootstrap_ci(np.moveaxis(finals_grid, -1, 0))  # each field (actor lr, critic lr)
# colours on a log scale from the smallest to the largest mean: the grid's returns are far below CartPole's 500, and
# a linear 0-500 scale would paint them all the same dark blue
grid_norm = matplotlib.colors.LogNorm(vmin=final_grid.min(), vmax=final_grid.max())
best_pair = np.unravel_index(final_grid.argmax(), final_grid.shape)  # (actor lr index, critic lr index)
fig, ax = plt.subplots(figsize=(5.5, 4))
im = ax.imshow(final_grid, origin="lower", cmap="viridis", norm=grid_norm)
ax.set_xticks(range(len(lrs_critic)), [f"{x:g}" for x in lrs_critic])
ax.set_yticks(range(len(lrs_actor)), [f"{x:g}" for x in lrs_actor])
ax.set_xlabel("critic learning rate")
ax.set_ylabel("actor learning rate")
ax.grid(False)
for i in range(len(lrs_actor)):
    for j in range(len(lrs_critic)):
        ax.text(j, i, f"{final_grid[i, j]:.0f}", ha="center", va="center",
                color="white" if grid_norm(final_grid[i, j]) < 0.6 else "black")
bar = fig.colorbar(im, label=f"final mean return (mean of {len(grid_seeds)} seeds), log scale")
bar.set_ticks(np.geomspace(final_grid.min(), final_grid.max(), 5), labels=[
    f"{v:.0f}" for v in np.geomspace(final_grid.min(), final_grid.max(), 5)])
bar.ax.minorticks_off()
ax.set_title(f"One-step actor-critic, {stored_grid.config['total_steps']:,} steps")
plots.show(fig, alt="Heat map of the final mean return for each pair of actor learning rate (rows) and "
                    "critic learning rate (columns), the value printed in each cell; colours on a log scale "
                    "from the smallest to the largest value. The best pair is actor "
                    f"{lrs_actor[best_pair[0]]:g}, critic {lrs_critic[best_pair[1]]:g}.")
print(f"mean final return [95 % bootstrap CI over {len(grid_seeds)} seeds]\n"
      f"rows: actor lr; columns: critic lr {lrs_critic}")
for i, la in enumerate(lrs_actor):
    print(f"{la:<7g}", " ".join(f"{grid_ci.estimate[i, j]:6.1f} [{grid_ci.low[i, j]:5.1f}, "
                                f"{grid_ci.high[i, j]:5.1f}]" for j in range(len(lrs_critic))))
best = np.unravel_index(final_grid.argmax(), final_grid.shape)
quoted = (lrs_actor.index(1e-4), lrs_critic.index(1e-3))  # the commonly quoted pair
print(f"best pair in this grid: actor {lrs_actor[best[0]]:g}, critic {lrs_critic[best[1]]:g}"
      f" ({final_grid[best]:.1f});\nthe commonly quoted pair actor 0.0001, critic 0.001:"
      f" {final_grid[quoted]:.1f} [{grid_ci.low[quoted]:.1f}, {grid_ci.high[quoted]:.1f}]")
collapse = (lrs_actor.index(3e-3), lrs_critic.index(1e-2))  # both rates large
print(f"both rates large (actor 0.003, critic 0.01), per seed: {finals_grid[collapse].round(1)}")
ci_width = np.median(grid_ci.high - grid_ci.low)
slow, mid = lrs_critic.index(3e-4), lrs_critic.index(3e-3)

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("A slow critic (the left column) holds back every actor, whatever the actor's own rate",
      bool(np.all(final_grid[:, slow] < final_grid[:, mid])),
      f"critic 3e-4 column {final_grid[:, slow].round(1)} vs critic 3e-3 column {final_grid[:, mid].round(1)}")
claim("The commonly quoted pair learns, but is not the best pair at this budget",
      bool(grid_ci.low[quoted] > RANDOM_RETURN and final_grid[quoted] < final_grid[best]),
      f"quoted pair {final_grid[quoted]:.1f} [{grid_ci.low[quoted]:.1f}, {grid_ci.high[quoted]:.1f}]; "
      f"best {final_grid[best]:.1f}; random {RANDOM_RETURN:.1f}")
claim("When both rates are large the policy can collapse to always pushing the same way, with returns near 9",
      bool(finals_grid[collapse].min() < ALWAYS_LEFT_RETURN + 3),
      f"actor 3e-3, critic 1e-2, per seed {finals_grid[collapse].round(1)}; always-left {ALWAYS_LEFT_RETURN:.1f}")
claim("Differences of a few tens of return points between neighbouring cells are within the noise",
      bool(ci_width > 40), f"median width of a cell's 95 % CI: {ci_width:.0f} return points")

# %%
best_overlaps = bool(grid_ci.low[best] < grid_ci.high[quoted])
display(Markdown(
    "How to read it: learning rates are starting points to tune, not laws. Look at the table for "
    "three patterns. A slow critic (the left column) holds back every actor, whatever the actor's own rate: the "
    "actor follows whatever the critic says, so a critic that lags behind the returns gives stale feedback. The "
    f"commonly quoted pair (actor $10^{{-4}}$, critic $10^{{-3}}$) learns ({final_grid[quoted]:.0f}), but is not "
    f"the best pair at this budget (actor {lrs_actor[best[0]]:g}, critic {lrs_critic[best[1]]:g}: "
    f"{final_grid[best]:.0f})"
    + ("; their confidence intervals overlap, though, so five seeds do not separate them. " if best_overlaps
       else ", and their confidence intervals do not overlap. ")
    + "And when both rates are large the policy can collapse to \"always push the same way\", with returns near "
    f"{ALWAYS_LEFT_RETURN:.0f} (the per-seed curves in section 5.2 show which cells do this). A cell's 95 % "
    f"confidence interval is typically {ci_width:.0f} return points wide, so differences of a few tens of points "
    "between neighbouring cells are within the noise; the best pair also depends on the network, the optimiser, "
    "the batch and the budget, so measure on your own problem."))

# %% [markdown]
# | setting | starting point | what this notebook measured |
# |---|---|---|
# | actor / critic learning rate (Adam, separate optimisers) | $10^{-3}$ / $3 \cdot 10^{-3}$ for a one-step actor-critic on CartPole | the grid above: a slow critic holds every actor back; the commonly quoted pair learns, but not fastest; both large can collapse the policy |
# | one optimiser for both (A2C) | $10^{-3}$ decaying to 0, value-loss weight $c_1 = 0.5$ | section 4.3's curves; with CartPole's unscaled returns the critic lags far behind at this budget (sections 4.4 and 4.5) |
# | $\gamma$ | 0.99 | used throughout; $1/(1-\gamma) = 100$ sets the scale of $V$ on CartPole |
# | steps before bootstrapping | 1 (TD(0)) to 8 (A2C) | not isolated here (section 4.3 changes several things at once); notebook 03 measures the trade-off |
# | gradient-norm clipping | 0.5 (A2C's default) | not measured here; a safety net against rare huge steps |
# | entropy bonus | 0 on CartPole | added when the entropy collapses too early (section 4.2 shows what collapse looks like) |
#
# **Diagnostics to watch, with healthy ranges on this task**
#
# * *Episode return* (mean of the last 20 episodes): rising, clearly above the random policy's level measured
#   in section 4.1.
# * *Policy entropy*: starts at $\ln 2 \approx 0.69$ for two actions and decreases as the actor grows decisive.
#   A falling entropy alone proves nothing: in section 4.2 the $V(s)$-weighted runs end with entropies similar
#   to the good ones' while their returns stay low. Entropy falling while returns stay low is the sign of a collapse.
# * *Explained variance of the critic*: should climb towards 1 as the critic catches up with its targets. With
#   A2C's settings at this short budget it stays near 0 (section 4.3), section 4.4 shows what that means (a
#   critic far below the returns) and section 4.5 why: Adam's steps, with a decaying learning rate, cannot lift
#   the critic to targets near 100 in a few hundred updates. Staying near 0 for long means the actor gets little
#   help from its critic (noisier gradients, a shorter effective horizon); targets of order 1 (reward scaling,
#   notebook 06) or more and larger critic steps (a longer run, a larger or undecayed learning rate) are the
#   first things to try.
# * *Value loss*: its scale follows the returns' ($V$ grows towards $1/(1-\gamma) = 100$), so watch its trend
#   and the explained variance rather than its raw size.
#
# **Common failure signs:** returns at or below the random level, near what "always push the same way" scores,
# with a falling entropy (a collapsed policy: check the sign of the loss, what weights $\log \pi$, the actor's
# learning rate); returns that rise and then crash (often an actor learning rate that is too high, or a critic
# that lags behind); NaN losses (softmax-then-log probabilities, or a far too large learning rate); a critic
# that looks fine but an actor that never improves (the weight is $V(s)$ instead of an advantage, or the TD
# error was not detached and a shared optimiser trains the critic on the actor's loss).
#
# ## 9. Critical view and ethics
#
# * **The critic is a learned opinion.** The actor follows it, including its mistakes: where the critic
#   over-estimates a region of states, the actor is drawn there. The method works best with a critic that is
#   accurate *for the current policy*, while that policy keeps changing; section 4.4 showed how far behind a
#   critic can be.
# * **Five seeds on CartPole prove little.** The confidence intervals printed above are wide, and with five
#   seeds a 95 % bootstrap interval is itself rough (it tends to be too narrow); results of small RL experiments
#   are known to swing with seeds and implementation details (Henderson et al. 2018; Agarwal et al. 2021 on
#   reporting with confidence intervals). Read our comparisons as illustrations, and report seeds and
#   intervals whenever you compare methods.
# * **The critic learns the reward you wrote, not the one you meant.** If a reward is a proxy (clicks for
#   satisfaction, speed for safety), the critic will faithfully predict the proxy and the actor will maximise it.
#   An optimiser does not correct a mis-specified reward, it exploits it, and the people affected by a deployed
#   policy rarely see what it was paid for.
# * **Cost.** These runs take seconds; headline actor-critic results in the literature used compute budgets many
#   orders of magnitude larger. Small, well-understood experiments first is also the cheaper habit.
#
# ## 10. Further reading
#
# * Barto, Sutton & Anderson (1983), *Neuronlike adaptive elements that can solve difficult learning control
#   problems* ([doi:10.1109/TSMC.1983.6313077](https://doi.org/10.1109/TSMC.1983.6313077)): the original
#   actor-critic (an "associative search element" and an "adaptive critic element"), on pole balancing.
# * Williams (1992), *Simple statistical gradient-following algorithms for connectionist reinforcement
#   learning* ([doi:10.1007/BF00992696](https://doi.org/10.1007/BF00992696)): REINFORCE, the policy gradient
#   from Monte Carlo returns, and the idea of a baseline.
# * Sutton, McAllester, Singh & Mansour (2000), *Policy gradient methods for reinforcement learning with
#   function approximation*: the policy-gradient theorem with learned function approximators.
# * Konda & Tsitsiklis (2000), *Actor-critic algorithms*: convergence of actor-critic with a critic that
#   learns faster than the actor (two time scales).
# * Sutton & Barto (2018), *Reinforcement Learning: An Introduction*, 2nd ed., chapter 13 (13.5: one-step
#   actor-critic; 13.4: baselines).
# * Mnih et al. (2016), *Asynchronous methods for deep reinforcement learning*
#   ([arXiv:1602.01783](https://arxiv.org/abs/1602.01783)): A3C, of which the library's A2C is the synchronous
#   variant.
# * Schulman, Moritz, Levine, Jordan & Abbeel (2016), *High-dimensional continuous control using generalized
#   advantage estimation* ([arXiv:1506.02438](https://arxiv.org/abs/1506.02438)): GAE, the bridge between
#   one-step TD errors and Monte Carlo returns (notebook 03).
# * Pardo, Tavakoli, Levdik & Kormushev (2018), *Time limits in reinforcement learning*
#   ([arXiv:1712.00378](https://arxiv.org/abs/1712.00378)): why truncation must bootstrap.
# * Nota & Thomas (2020), *Is the policy gradient a gradient?*
#   ([arXiv:1906.07073](https://arxiv.org/abs/1906.07073)): what dropping the $\gamma^t$ factor does.
# * Henderson, Islam, Bachman, Pineau, Precup & Meger (2018), *Deep reinforcement learning that matters*
#   ([arXiv:1709.06560](https://arxiv.org/abs/1709.06560)): seeds, variance and reporting.
# * Agarwal, Schwarzer, Castro, Courville & Bellemare (2021), *Deep reinforcement learning at the edge of the
#   statistical precipice* ([arXiv:2108.13264](https://arxiv.org/abs/2108.13264)): why a few runs need
#   interval estimates (bootstrap confidence intervals, the interquartile mean) rather than point estimates.
# * Later actor-critic methods, with their real dates: SAC (Haarnoja et al. 2018,
#   [arXiv:1801.01290](https://arxiv.org/abs/1801.01290)) adds an entropy term for exploration; TD3 (Fujimoto,
#   van Hoof & Meger 2018, [arXiv:1802.09477](https://arxiv.org/abs/1802.09477)) stabilises deterministic
#   actor-critics with twin critics and delayed updates; IMPALA / V-trace (Espeholt et al. 2018,
#   [arXiv:1802.01561](https://arxiv.org/abs/1802.01561)) corrects for slightly off-policy data in distributed
#   training. Genuinely post-2020: Andrychowicz et al. (2021), *What matters in on-policy reinforcement
#   learning?* ([arXiv:2006.05990](https://arxiv.org/abs/2006.05990)), and Huang et al. (2022), *The 37
#   implementation details of proximal policy optimization* (ICLR 2022 blog track).
#
# > **Common misconception.** SAC, TD3, IMPALA (and even TRPO) are "recent, post-2020" research updates to
# > actor-critic methods.
# >
# > **What is true:** TRPO dates from 2015 ([arXiv:1502.05477](https://arxiv.org/abs/1502.05477)), SAC, TD3 and IMPALA from 2018 (the papers above, with their arXiv
# > ids); work that really is post-2020 includes Andrychowicz et al. (2021) and Huang et al. (2022).
#
# ## 11. Glossary and key takeaways
#
# | term | meaning |
# |---|---|
# | actor | the policy network $\pi_\theta(a \mid s)$; here it outputs logits |
# | critic | the value network $V_\phi(s)$: predicted discounted return from $s$ under the current policy |
# | advantage | $A(s, a) = Q(s, a) - V(s)$: how much better than usual an action was |
# | discounted state distribution | $d^\pi_\gamma(s) = (1-\gamma)\sum_t \gamma^t \Pr(s_t = s)$: the state weights of the policy-gradient theorem |
# | TD error | $\delta_t = r_t + \gamma (1 - \text{terminated}_t) V(s_{t+1}) - V(s_t)$: a one-sample advantage |
# | TD target | $y_t = r_t + \gamma (1 - \text{terminated}_t) V(s_{t+1})$: the critic's regression target, held constant |
# | semi-gradient | differentiating the critic's loss through $V(s_t)$ only, not through the target |
# | terminated / truncated | a real end (no value after it) / a time limit (bootstrap from the final state) |
# | next-step autoreset | Gymnasium 1.x vector envs reset a finished copy on the following `step`; that transition is fake |
# | explained variance | $1 - \mathrm{Var}[R - V]/\mathrm{Var}[R]$: the share of the returns' spread the critic predicts |
# | entropy | how random the policy is; $\ln 2$ for a 50/50 choice between two actions |
#
# **Key takeaways**
#
# 1. The actor is trained with $\nabla \log \pi(a \mid s)$ times an **advantage**; the critic is trained by
#    regression on a TD (or $n$-step) target. A baseline such as $V(s)$ changes nothing on average and removes
#    noise, but $V(s)$ on its own carries no signal at all.
# 2. The TD error is the simplest advantage estimate: one transition, low variance, biased by the critic's
#    errors.
# 3. **Detach** the advantage in the actor's loss, and **do not bootstrap after `terminated`**, but do after
#    `truncated`.
# 4. Output **logits** and build `Categorical(logits=...)`.
# 5. Learning rates, batch sizes and target lengths are starting points; measure their effect over several
#    seeds, and watch entropy and explained variance, not only the return.
#
# Where value-based methods like DQN shine, where they break (continuous actions), and what actor-critic
# methods add is the subject of the next notebook.
#
# **[Next: 02 · Beyond Q-learning](02_beyond_q_learning.ipynb)**
