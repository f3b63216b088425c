# %% [markdown]
# # 02 · Beyond Q-learning: where tables shine, where they break, and what an actor adds
#
# Notebook 01 built an actor and a critic. Before going further it is worth asking what they buy us over the
# older and simpler idea of learning a table of action values. This notebook gives Q-learning a fair hearing:
# it wins where it should, and we measure where it stops working and why.
#
# **After this notebook you can**
# 1. train tabular Q-learning, read its Q-table as a heat map and follow its greedy path;
# 2. explain, with a measurement, why a table over a continuous state breaks, and how DQN's network fixes that;
# 3. compare DQN and A2C on CartPole-v1 at the same env-step budget over several seeds, and say what the
#    comparison does and does not show;
# 4. explain why $\max_a Q(s, a)$ becomes an optimisation problem when actions are continuous, and how a
#    Gaussian actor avoids it;
# 5. tell which learning target is high-variance (the Monte Carlo return) and which is biased (the one-step TD
#    target), and show it from the same states.
#
# **Prerequisites:** notebook 01 (actor, critic, TD error); Python, NumPy and a little PyTorch.
#
# **Time:** about 60 minutes to read and try the widgets; running all cells took **70–105 s** on a 2-core CPU
# shared with other jobs (measured over several builds; an idle machine is faster). The longer
# experiments were run once by scripts in `notebooks/scripts/` and are loaded from `notebooks/data/`.
#
# The section titles follow the course skeleton: intuition, maths, build it, experiments, explore, check your
# understanding, debug the bug, in practice, critical view, further reading, glossary.

# %%
import dataclasses
import json
import math
import time
from pathlib import Path

import gymnasium as gym
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import exercises, plots, quiz
from course_lib.algos import a2c, dqn
from course_lib.algos import qlearning as ql
from course_lib.envs import TwoStateChain
from course_lib.networks import GaussianActor
from course_lib.training import evaluate

torch.set_num_threads(1)
plots.use_course_style()
SEED = 0
SEEDS = (0, 1, 2)  # every comparison below runs these three seeds
# small result files written by notebooks/scripts/nb02_*.py (the kernel normally starts in notebooks/)
DATA = Path("data") if Path("data").is_dir() else Path("notebooks") / "data"
print("gymnasium", gym.__version__, "| torch", torch.__version__)

# %% [markdown]
# ## 1. Intuition and terms
#
# Picture a food critic with a notebook. For every restaurant (a **state**) and every dish on its menu (an
# **action**) she keeps one number: how good the meal turned out overall, including everything that came after
# it. To choose, she looks up the restaurant's row and orders the dish with the highest number. That is
# **Q-learning**: a table $Q(s, a)$ and a greedy choice $\arg\max_a Q(s, a)$.
#
# The scheme works beautifully while the menu is short and the restaurants few. It runs into trouble in two
# different ways:
#
# * **Too many restaurants.** If every slightly different street corner counts as a new restaurant, she will
#   never visit most of them, and her notebook cannot say anything about the ones she has not seen. This is a
#   problem of the *table*, and a network that generalises from seen to unseen states (DQN) fixes it.
# * **A continuous menu.** If a "dish" is "any amount of salt between 0 and 2 grams", there is no list of
#   dishes to look up. Finding the best one is a search problem of its own, every single time she orders. A
#   table or a network with one output per action has nothing to offer here.
#
# An **actor-critic** agent splits the job: a cook (the **actor**) who has a recipe with some variation, a
# distribution over actions to sample from, and a taster (the **critic**) who predicts how good a meal usually
# is in this restaurant, $V(s)$, and tells the cook whether this one was better or worse than usual. Nothing
# is maximised over the menu: the recipe is simply nudged towards the variations that tasted better.

# %%
def draw_box(ax, xy, text, color):
    """A rounded box with centred text at ``xy`` (axes coordinates in [0, 1])."""
    ax.text(*xy, text, ha="center", va="center", fontsize=9,
            bbox=dict(boxstyle="round,pad=0.4", fc=color, ec="0.35"))


def draw_arrow(ax, start, end, label=""):
    """An arrow from ``start`` to ``end`` with an optional label at its middle."""
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color="0.3", lw=1.2))
    if label:
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.05)
        ax.text(*mid, label, ha="center", fontsize=8, color="0.25")


fig, (ax_q, ax_ac) = plt.subplots(1, 2, figsize=(11, 3.4))
for ax in (ax_q, ax_ac):
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
ax_q.set_title("Q-learning / DQN: value per action, then a max")
draw_box(ax_q, (0.1, 0.55), "state s", "#f2f2f2")
draw_box(ax_q, (0.38, 0.55), "table row\nor network", "#cfe3f3")
draw_box(ax_q, (0.66, 0.55), "Q(s, a1)\nQ(s, a2)\nQ(s, a3)", "#cfe3f3")
draw_box(ax_q, (0.9, 0.55), "argmax\n→ action", "#fde2c4")
draw_arrow(ax_q, (0.16, 0.55), (0.29, 0.55))
draw_arrow(ax_q, (0.47, 0.55), (0.58, 0.55))
draw_arrow(ax_q, (0.74, 0.55), (0.83, 0.55))
ax_q.text(0.5, 0.12, "target: r + γ · max over a' of Q(s', a')\nneeds a list of actions to take the max over",
          ha="center", fontsize=8.5)
ax_ac.set_title("Actor-critic: a distribution to sample, a value to compare")
draw_box(ax_ac, (0.1, 0.55), "state s", "#f2f2f2")
draw_box(ax_ac, (0.42, 0.8), "actor\nπθ(a | s) = N(μθ(s), σ²)", "#d5ecd4")
draw_box(ax_ac, (0.42, 0.3), "critic\nVw(s)", "#cfe3f3")
draw_box(ax_ac, (0.85, 0.8), "sample\na ~ πθ", "#fde2c4")
draw_box(ax_ac, (0.85, 0.3), "δ = r + γ V(s') − V(s)", "#f6d5d5")
draw_arrow(ax_ac, (0.16, 0.6), (0.3, 0.75))
draw_arrow(ax_ac, (0.16, 0.5), (0.35, 0.35))
draw_arrow(ax_ac, (0.58, 0.8), (0.77, 0.8))
draw_arrow(ax_ac, (0.5, 0.3), (0.7, 0.3))
draw_arrow(ax_ac, (0.85, 0.39), (0.6, 0.7), "δ weights ∇ log π")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Key terms**
#
# | term | meaning here |
# |---|---|
# | action value $Q(s, a)$ | expected discounted return after taking $a$ in $s$ and then following a policy |
# | state value $V(s)$ | expected discounted return from $s$ under the policy: $V(s) = \mathbb{E}_{a \sim \pi}[Q(s, a)]$ |
# | Q-table | an array of shape (number of states, number of actions) holding $Q$ |
# | greedy / $\varepsilon$-greedy | take $\arg\max_a Q(s, a)$ / do so except with probability $\varepsilon$, then act at random |
# | bootstrapping | building a target from the current estimate of the next state's value |
# | TD target | $r_t + \gamma V(s_{t+1})$ (or with $\max_{a'} Q$): one real reward plus an estimate |
# | Monte Carlo return $G_t$ | the real discounted sum of all later rewards, no estimate inside |
# | off-policy / on-policy | learns about a policy other than / the same as the one that collected the data |
# | function approximation | a parametric model (here a neural network) instead of one table entry per state |
# | discretisation | cutting a continuous quantity into a finite number of bins |
# | actor / critic | the policy network $\pi_\theta(a \mid s)$ / the value network $V_w(s)$ |

# %% [markdown]
# ## 2. The maths
#
# **Q-learning** (Watkins, 1989) improves one table entry after every transition $(s, a, r, s')$:
#
# $$Q(s, a) \leftarrow Q(s, a) + \alpha \big[\, y - Q(s, a) \,\big], \qquad
#   y = r + \gamma \,(1 - \text{terminated})\, \max_{a'} Q(s', a').$$
#
# The bracket is the TD error $\delta$; $\alpha$ (`alpha`) is the step size and $\gamma$ (`gamma`) the discount.
# The factor $(1 - \text{terminated})$ drops the bootstrap when the task really ended (nothing follows a terminal
# state). A time-limit cut (`truncated`) keeps it: the state still had a future, we just stopped watching.
# Because the target takes the max, Q-learning learns the values of the *greedy* policy whatever policy
# collected the data: it is off-policy. **SARSA** replaces $\max_{a'} Q(s', a')$ by $Q(s', a')$ for the action
# $a'$ the agent really takes next, and so learns the values of the exploring policy itself (on-policy).
#
# **A table is a function with one free number per cell.** With $b$ bins for each of CartPole's 4 state
# dimensions and 2 actions the table has $2\,b^4$ entries, each learned only from visits to its own cell.
#
# **DQN** (Mnih et al., 2015) replaces the table by a network $Q_\theta(s, \cdot)$ with one output per action and
# minimises, over minibatches drawn from a replay buffer,
#
# $$L(\theta) = \mathbb{E}\big[\ell\big(Q_\theta(s, a) - y\big)\big], \qquad
#   y = r + \gamma\,(1 - \text{terminated}) \max_{a'} Q_{\bar\theta}(s', a'),$$
#
# with $\ell$ the Huber loss and $\bar\theta$ a periodically copied target network. The number of parameters no
# longer depends on the number of states.
#
# **Actor-critic** (notebook 01) follows the policy gradient
#
# $$\nabla_\theta J(\theta) = \mathbb{E}\big[\nabla_\theta \log \pi_\theta(a \mid s)\, A(s, a)\big],
#   \qquad A(s_t, a_t) \approx \delta_t = r_t + \gamma V_w(s_{t+1}) - V_w(s_t).$$
#
# **Continuous actions.** Acting greedily needs $a^*(s) = \arg\max_{a \in [-2, 2]^d} Q(s, a)$, and the target
# needs $\max_{a'} Q(s', a')$ for every sample of every minibatch. Over a continuous set that is an optimisation
# problem (a search over $a$) each time. A **Gaussian actor** outputs the mean $\mu_\theta(s)$ and uses a learned
# standard deviation $\sigma$ (`log_std`); an action is one forward pass and one sample, and
#
# $$\log \pi_\theta(a \mid s) = \sum_{j=1}^{d} \Big[ -\frac{(a_j - \mu_{\theta, j}(s))^2}{2 \sigma_j^2}
#   - \log \sigma_j - \tfrac12 \log (2\pi) \Big]$$
#
# is all the policy gradient needs. Discretising each of $d$ action dimensions into $k$ levels instead gives
# $k^d$ joint actions, one network output each.
#
# **Bias and variance of the two targets** for $V^\pi(s_t)$:
#
# $$G_t = \sum_{k \ge 0} \gamma^k r_{t+k} \quad\text{(Monte Carlo)}, \qquad
#   y_t = r_t + \gamma V(s_{t+1}) \quad\text{(one-step TD)}.$$
#
# $\mathbb{E}[G_t \mid s_t] = V^\pi(s_t)$ exactly, but $G_t$ carries the randomness of every later action and
# transition. $y_t$ carries the randomness of one step only, and $\mathbb{E}[y_t \mid s_t] = V^\pi(s_t)$ holds
# only if $V = V^\pi$; while $V$ is still wrong, $y_t$ is biased. Section 4.5 measures both.

# %% [markdown]
# ## 3. Build it
#
# Three small pieces, each written here first and then compared with the `course_lib` version on the same
# inputs: the tabular update, the grid that turns a continuous observation into a table row, and the
# log-density of a Gaussian actor.

# %%
def q_learning_update(q, s, a, r, s_next, terminated, alpha, gamma):
    """One tabular Q-learning update of ``q`` (shape (n_states, n_actions)) in place; returns the TD error."""
    # y = r + gamma * (1 - terminated) * max_a' Q(s', a')
    y = r + gamma * (1.0 - float(terminated)) * q[s_next].max()
    # delta = y - Q(s, a)
    delta = y - q[s, a]
    # Q(s, a) <- Q(s, a) + alpha * delta
    q[s, a] += alpha * delta
    return delta


# %%
# NBVAL_CHECK_OUTPUT
rng = np.random.default_rng(SEED)
q_mine = rng.normal(size=(6, 3))
q_lib = q_mine.copy()
max_diff = 0.0
for _ in range(500):  # the same random stream of transitions through both
    s, a, s_next = int(rng.integers(6)), int(rng.integers(3)), int(rng.integers(6))
    r, terminated = float(rng.normal()), bool(rng.random() < 0.2)
    d_mine = q_learning_update(q_mine, s, a, r, s_next, terminated, alpha=0.3, gamma=0.9)
    d_lib = ql.td_update(q_lib, s, a, r, s_next, terminated, alpha=0.3, gamma=0.9)
    max_diff = max(max_diff, abs(d_mine - d_lib))
print(f"after 500 updates: max |TD error difference| = {max_diff:.1e}, "
      f"max |table difference| = {np.abs(q_mine - q_lib).max():.1e}")

# %%
def cell_index(obs, low, high, bins):
    """Row of the table for one observation: clip, cut each dimension into ``bins[i]`` cells, number row-major."""
    frac = (np.clip(obs, low, high) - low) / (high - low)  # in [0, 1] per dimension
    cells = np.minimum((frac * bins).astype(int), bins - 1)  # the right edge belongs to the last cell
    index = 0
    for c, b in zip(cells, bins):  # index = ((c0 * b1 + c1) * b2 + c2) * b3 + c3
        index = index * b + c
    return int(index)


# %%
# NBVAL_CHECK_OUTPUT
grid = ql.cartpole_discretiser(6)
low, high, bins = np.array(ql.CARTPOLE_LOW), np.array(ql.CARTPOLE_HIGH), np.full(4, 6)
rng = np.random.default_rng(SEED)
test_obs = rng.uniform(-1.3, 1.3, size=(2000, 4)) * np.array(ql.CARTPOLE_HIGH)  # includes values off the grid
agree = sum(cell_index(o, low, high, bins) == grid(o) for o in test_obs)
print(f"6 bins per dimension -> {grid.n_states} table rows; "
      f"my index equals course_lib's for {agree} of {len(test_obs)} observations")

# %%
def gaussian_log_prob(a, mean, log_std):
    """log N(a; mean, exp(log_std)^2) summed over the action dimensions: (B, d) -> (B,)."""
    std = log_std.exp()
    # log pi(a|s) = sum_j [ -(a_j - mu_j)^2 / (2 sigma_j^2) - log sigma_j - log sqrt(2 pi) ]
    return (-(a - mean) ** 2 / (2 * std**2) - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)


# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(SEED)
actor = GaussianActor(obs_dim=3, act_dim=2, hidden=(16,), log_std_init=-0.5)
obs_batch = torch.randn(5, 3)
dist = actor.distribution(obs_batch)
actions = dist.sample()
mine = gaussian_log_prob(actions, actor(obs_batch), actor.log_std)
lib = actor.log_prob(dist, actions)
print("actions:", tuple(actions.shape), "-> log-probs:", tuple(lib.shape))
print(f"my log-probs equal course_lib's to within 1e-6: {torch.allclose(mine, lib, rtol=0.0, atol=1e-6)}")

# %% [markdown]
# The three checks print zero differences and full agreement. From here on the notebook uses
# `course_lib.algos.qlearning` (`train`, `greedy_path`, `Discretiser`), `course_lib.algos.dqn` and
# `course_lib.algos.a2c`.
#
# ## 4. Experiments
#
# ### 4.1 Where tables shine: CliffWalking
#
# CliffWalking-v1 is a 4 × 12 grid: start bottom left, goal bottom right, the cells between them are a cliff.
# Every step costs −1; stepping into the cliff costs −100 and sends the agent back to the start. With 48
# states and 4 actions, the whole Q-function is a 48 × 4 table. We train Q-learning and SARSA with the
# classic settings of Sutton & Barto's example 6.6 ($\alpha = 0.5$, $\varepsilon = 0.1$ throughout, no
# discount), three seeds each.

# %%
cliff_config = ql.QLearningConfig(alpha=0.5, gamma=1.0, epsilon_start=0.1, epsilon_end=0.1, episodes=500)
cliff_runs = {"Q-learning": [], "SARSA": []}
cliff_agents = {"Q-learning": [], "SARSA": []}
for name in cliff_runs:
    config = dataclasses.replace(cliff_config, on_policy=(name == "SARSA"))
    for seed in SEEDS:
        agent, history = ql.train(config, "CliffWalking-v1", seed=seed)
        cliff_runs[name].append(history)
        cliff_agents[name].append(agent)

cliff_env = gym.make("CliffWalking-v1")
print("online return = return of the epsilon-greedy training episodes (last 100 episodes of 500);")
print("greedy return = the greedy policy followed without exploration, once.")
for name in cliff_runs:
    online = [h.episode_returns()[-100:].mean() for h in cliff_runs[name]]
    paths = [ql.greedy_path(agent, cliff_env, max_steps=100) for agent in cliff_agents[name]]
    print(f"{name:10s}  online return {plots.mean_and_spread(online)}   "
          f"greedy return per seed {[p.total_return for p in paths]}, reached goal {[p.terminated for p in paths]}")

ax = plots.learning_curves(cliff_runs, title="CliffWalking-v1: mean return of the last 20 training episodes")
ax.set_ylim(-150, 0)
plt.show()

# %%
ARROWS = {0: "↑", 1: "→", 2: "↓", 3: "←"}  # CliffWalking's actions: up, right, down, left


def plot_q_table(ax, agent, title, vmin, vmax):
    """Heat map of max_a Q(s, a) on the 4 x 12 grid, greedy action arrows and the greedy path."""
    q = agent.q
    values = q.max(axis=1).reshape(4, 12).copy()
    cliff = np.zeros((4, 12), dtype=bool)
    cliff[3, 1:11] = True
    values[cliff] = np.nan
    values[3, 11] = np.nan  # the goal: the episode ends on arrival, its row is never updated
    image = ax.imshow(values, cmap="viridis", vmin=vmin, vmax=vmax)
    for s in range(47):
        row, col = divmod(s, 12)
        if not cliff[row, col]:
            ax.text(col, row, ARROWS[int(q[s].argmax())], ha="center", va="center", color="white", fontsize=9)
    ax.text(11, 3, "goal", ha="center", va="center", fontsize=7)
    path = ql.greedy_path(agent, cliff_env, max_steps=100)
    rows, cols = np.divmod(np.array(path.states), 12)
    ax.plot(cols, rows, color="#D55E00", lw=2.5, alpha=0.8)
    ax.text(5.5, 3, "cliff", ha="center", va="center", color="0.3")
    ax.set_title(f"{title}: greedy path {len(path.actions)} steps, return {path.total_return:.0f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    return image


fig, axes = plt.subplots(1, 2, figsize=(11, 2.6))
shown = [cliff_agents[name][0].q.max(axis=1)[:36] for name in cliff_runs]  # the three rows above the cliff
vmin, vmax = min(v.min() for v in shown), max(v.max() for v in shown)
for ax, name in zip(axes, cliff_runs):
    image = plot_q_table(ax, cliff_agents[name][0], f"{name} (seed {SEEDS[0]})", vmin, vmax)
fig.colorbar(image, ax=axes, shrink=0.8, label="max over a of Q(s, a)")
plt.show()

# %% [markdown]
# Read the numbers printed above the curves together with the two heat maps:
#
# * Q-learning's greedy path hugs the cliff edge, the shortest route; its table holds the values of
#   the greedy policy, as its max-target promises. Yet its *online* return, earned while exploring with
#   $\varepsilon = 0.1$, is the lower of the two: a random step next to the cliff is expensive.
# * SARSA learns the values of the exploring policy, random steps included, so its greedy path keeps a safety
#   margin from the edge, and its online return is higher.
#
# The heat map *is* the whole learned knowledge: one number per cell and action, every one of them visited
# many times. With 48 states, a few hundred episodes are plenty. This is tabular Q-learning at its best.
#
# ### 4.2 Where tables break: CartPole with a grid
#
# CartPole-v1's state is four real numbers (cart position and velocity, pole angle and angular velocity). A
# table needs them cut into bins; `course_lib` clips each dimension to a range a balancing policy meets and
# cuts it into $b$ equal bins. The table size grows as $b^4$:

# %%
# NBVAL_CHECK_OUTPUT
print(f"{'bins b':>7} {'states b^4':>11} {'entries 2 b^4':>14} {'MB as float64':>14}")
for b in (1, 2, 3, 4, 6, 8, 10, 14, 20, 50):
    n_states = ql.cartpole_discretiser(b).n_states
    print(f"{b:>7} {n_states:>11,} {2 * n_states:>14,} {2 * n_states * 8 / 1e6:>14.3f}")

# %% [markdown]
# Memory is not the real problem (even $b = 50$ fits in 100 MB). The problem is that **every entry is learned
# separately**: a cell the agent has never visited holds its initial value, and what was learned in the
# neighbouring cell does not carry over. Coarse grids cannot represent a good policy (two states that need
# different pushes share a cell); fine grids need far more experience than a short budget gives.
#
# Training 8 grid sizes × 3 seeds for 1000 episodes each takes a few minutes, so the runs were made once by
# `notebooks/scripts/nb02_cartpole_tables.py` (rerun it to regenerate `data/nb02_cartpole_tables.json`). The
# settings: $\alpha = 0.1$, $\gamma = 0.99$, $\varepsilon$ from 1 to 0.05 over 600 episodes. The first cell
# below loads the file and re-runs the first 200 episodes of one setting live, to check the file still
# matches the library.

# %%
tables = json.loads((DATA / "nb02_cartpole_tables.json").read_text())
table_config = ql.QLearningConfig(**tables["config"])
print("stored settings:", table_config)

# live check: the epsilon schedule depends only on the episode number, so a 200-episode run is the start of the
# stored 1000-episode run
check_bins = 6
stored = next(r for r in tables["runs"] if r["bins"] == [check_bins] * 4 and r["seed"] == SEEDS[0])
short = dataclasses.replace(table_config, episodes=tables["prefix_episodes"])
_, live_history = ql.train(short, "CartPole-v1", seed=SEEDS[0], discretiser=ql.cartpole_discretiser(check_bins))
live_returns = live_history.episode_returns()
print(f"bins {check_bins}, seed {SEEDS[0]}, first {len(live_returns)} episodes: live mean return "
      f"{live_returns.mean():.2f}, stored {np.mean(stored['prefix_returns']):.2f}, "
      f"identical episode by episode: {np.array_equal(live_returns, stored['prefix_returns'])}")

# %%
def group_by_grid(runs):
    """The stored runs grouped by grid: {bins per dimension (tuple of 4): [one run dict per seed]}."""
    by_bins = {}
    for r in runs:
        by_bins.setdefault(tuple(r["bins"]), []).append(r)
    return by_bins


tables_by_bins = group_by_grid(tables["runs"])
print(f"{'grid':>14} {'entries':>8} {'visited':>8}   {'last-100 training return':>28}   "
      f"{'greedy eval return (' + str(tables['eval_episodes']) + ' episodes)':>34} {'env steps':>9}")
for grid_bins, runs in tables_by_bins.items():
    print(f"{str(grid_bins):>14} {runs[0]['table_entries']:>8,} {np.mean([r['visited_fraction'] for r in runs]):>8.1%}"
          f"   {plots.mean_and_spread([r['final_return_mean'] for r in runs]):>28}"
          f"   {plots.mean_and_spread([r['eval_return_mean'] for r in runs]):>34}"
          f" {int(np.mean([r['env_steps'] for r in runs])):>9,}")

fig, ax = plt.subplots()
for grid_bins in [(2,) * 4, (4,) * 4, (10,) * 4, (14,) * 4, (1, 1, 6, 12)]:
    runs = tables_by_bins[grid_bins]
    label = f"b = {grid_bins[0]}" if len(set(grid_bins)) == 1 else f"hand-made {grid_bins}"
    plots.plot_seeds(ax, [(r["curve_episode"], r["curve_return"]) for r in runs], label)
ax.set_xlabel("episode")
ax.set_ylabel(f"mean return, last {tables['smooth_window']} episodes")
ax.set_title("Tabular Q-learning on CartPole-v1, 3 seeds per grid")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# What the table above shows (the numbers are recomputed from the file each time):
#
# * one bin ($b = 1$, a single state) cannot react to anything; the returns are those of a fixed action;
# * the visited fraction falls quickly as $b$ grows: at the finest grid most of the table was never touched,
#   and its greedy policy is worse than that of much coarser grids;
# * no equal-bin grid gets near the 500 a good policy reaches; the best ones sit in the middle, where the grid
#   is fine enough to tell states apart and coarse enough to be visited;
# * the **hand-made grid** (one bin for the cart, 6 for the angle, 12 for the angular velocity: 72 states) does
#   best. That is the point: a table works here only after a person has put their knowledge of the task into
#   the grid. The explorer in section 5 lets you step through every grid size.
#
# ### 4.3 The table replaced by a network: DQN against A2C on CartPole-v1
#
# DQN keeps Q-learning's target and replaces the table by a network that maps the raw 4-number state to 2 action
# values; similar states get similar values without being visited. A2C (notebook 01's actor-critic, with 8
# parallel envs and n-step returns) learns a policy and a critic instead. Both get **the same env-step budget and
# the same three seeds**. The budget is short (12,000 env steps) to keep this notebook under its time limit;
# the same settings run longer further below. Each method got one light adjustment for short budgets: DQN a
# small network and one gradient step every 4 env steps (the best of three training frequencies tried), A2C a
# constant learning rate (the library's default anneals it to 0 over the run, which stops a run this short
# from learning early).

# %%
LIVE_STEPS = 12_000
# DQN made small for a CPU notebook: a 64x64 network, one gradient step every 4 env steps
DQN_CONFIG = dqn.DQNConfig(hidden=(64, 64), batch_size=64, learning_rate=1e-3, train_freq=4, gradient_steps=1,
                           target_update_interval=500, learning_starts=500, epsilon_decay_steps=4_000,
                           epsilon_end=0.05)
# A2C: the library's defaults (8 envs x 8 steps per update, n-step returns) with a constant learning rate
A2C_CONFIG = a2c.A2CConfig(anneal_lr=False)
EVAL_EPISODES, EVAL_SEED = 10, 10_000


h2h_histories = {"DQN": [], "A2C": []}
h2h_agents = {"DQN": [], "A2C": []}
h2h_seconds = {"DQN": [], "A2C": []}
with tqdm(total=2 * len(SEEDS), desc="head-to-head runs") as bar:
    for name, train, config in (("DQN", dqn.train, DQN_CONFIG), ("A2C", a2c.train, A2C_CONFIG)):
        for seed in SEEDS:
            start = time.perf_counter()
            agent, history = train(config, seed=seed, total_steps=LIVE_STEPS, progress=False)
            h2h_seconds[name].append(time.perf_counter() - start)
            h2h_histories[name].append(history)
            h2h_agents[name].append(agent)
            bar.update(1)

# %%
n_params = {"DQN": sum(p.numel() for p in h2h_agents["DQN"][0].q_net.parameters()),
            "A2C": sum(p.numel() for p in h2h_agents["A2C"][0].parameters())}
print(f"budget {LIVE_STEPS:,} env steps per run, seeds {SEEDS}")
print(f"{'':5} {'params':>7} {'last-20 training return':>26} {'greedy eval return':>26} {'wall s per run':>15}")
h2h_eval = {}
for name, agents in h2h_agents.items():
    h2h_eval[name] = [evaluate(agent, "CartPole-v1", n_episodes=EVAL_EPISODES, seed=EVAL_SEED).mean
                      for agent in agents]
    train_ret = [h.recent_return_mean() for h in h2h_histories[name]]
    print(f"{name:5} {n_params[name]:>7,} {plots.mean_and_spread(train_ret):>26} "
          f"{plots.mean_and_spread(h2h_eval[name]):>26} {np.mean(h2h_seconds[name]):>15.1f}")
# a health check of DQN's values: with reward 1 per step, no Q-value should exceed sum_k gamma^k = 1 / (1 - gamma)
start_obs = np.stack([gym.make("CartPole-v1").reset(seed=EVAL_SEED + k)[0] for k in range(20)])
q_start = [round(float(agent.q_values(start_obs).max(axis=1).mean()), 1) for agent in h2h_agents["DQN"]]
print(f"DQN mean max_a Q(s0, a) per seed: {q_start}  "
      f"(upper bound 1 / (1 - gamma) = {1 / (1 - DQN_CONFIG.gamma):.0f})")

ax = plots.learning_curves(h2h_histories, title=f"CartPole-v1, {LIVE_STEPS:,} env steps, {len(SEEDS)} seeds")
ax.set_ylabel("mean return, last 20 training episodes")
plt.show()

# %% [markdown]
# With a budget this short and three seeds, compare the gap between the two means with their spread (the
# min … max ranges) before reading anything into the ranking. What does not depend on luck: DQN's small
# network (its parameter count is in the table) covers CartPole's continuous state with no grid at all, and its
# value estimates stay within the bound that a reward of 1 per step allows. DQN also spends more computation per
# env step (a gradient step on a replayed minibatch every 4 steps); the wall-clock column shows it.
#
# The same two settings with a 50,000-step budget, run once by `notebooks/scripts/nb02_head_to_head.py`
# (stored in `data/nb02_head_to_head.json`; the cell checks that the stored settings are the ones above):

# %%
h2h_long = json.loads((DATA / "nb02_head_to_head.json").read_text())
same = (h2h_long["dqn_config"] == json.loads(json.dumps(dataclasses.asdict(DQN_CONFIG)))
        and h2h_long["a2c_config"] == json.loads(json.dumps(dataclasses.asdict(A2C_CONFIG))))
print(f"stored runs use the notebook's settings: {same}; budget {h2h_long['total_steps']:,} env steps")
fig, ax = plt.subplots()
for name in ("DQN", "A2C"):
    runs = [r for r in h2h_long["runs"] if r["algo"] == name]
    plots.plot_seeds(ax, [(r["env_steps"], r["return_mean"]) for r in runs], name)
    print(f"{name}: last-20 training return {plots.mean_and_spread([r['return_mean'][-1] for r in runs])}, "
          f"greedy eval return {plots.mean_and_spread([r['eval_return_mean'] for r in runs])}, "
          f"wall s per run {np.mean([r['seconds'] for r in runs]):.0f}")
ax.set_xlabel("env steps")
ax.set_ylabel("mean return, last 20 training episodes")
ax.set_title(f"CartPole-v1, {h2h_long['total_steps']:,} env steps (stored runs)")
ax.legend()
plt.show()

# %% [markdown]
# **What this comparison shows:** with a network instead of a table, Q-learning handles CartPole's continuous
# state, and at these budgets neither method dominates across seeds. **What it does not show:** which family is
# "better". Both runs use small, untuned settings; DQN is sensitive to its exploration schedule and target
# update interval, A2C to its learning rate and rollout length. CartPole has 2 actions, where taking a max is
# trivial. The next experiment changes exactly that.
#
# ### 4.4 Continuous actions: when the max becomes a search
#
# Pendulum-v1 asks for one torque in $[-2, 2]$. A Q-network cannot have one output per real number, so acting
# greedily means solving $\max_a Q(s, a)$ by search. Below, a small random network plays the role of a
# learned $Q(s, \cdot)$ for one fixed state, with $d$ action dimensions. Two ways to find its best action:
#
# * **grid search** with $k$ levels per dimension: $k^d$ evaluations, and the answer is only as good as the grid;
# * **gradient ascent** on $a$ from a few random starts: cheaper, but it can stop at a local maximum.
#
# An actor needs neither: it outputs $\mu_\theta(s)$ in **one** forward pass.

# %%
def make_toy_q(d, seed):
    """A random smooth function a -> Q(s, a) with several bumps, for one fixed state: (B, d) actions -> (B,)."""
    gen = torch.Generator().manual_seed(seed)
    w1, b1 = 2.0 * torch.randn(d, 32, generator=gen), torch.randn(32, generator=gen)
    w2 = torch.randn(32, generator=gen) / math.sqrt(32)
    return lambda a: torch.tanh(a @ w1 + b1) @ w2


def grid_max(q_fn, d, k):
    """Best value over the grid of k levels per dimension in [-2, 2]^d (k^d evaluations)."""
    levels = torch.linspace(-2.0, 2.0, k)
    grid_points = torch.cartesian_prod(*[levels] * d).reshape(-1, d)
    return q_fn(grid_points).max().item(), grid_points.shape[0]


def gradient_ascent_max(q_fn, d, starts=8, steps=50, lr=0.1, seed=0):
    """Adam ascent on a from random starts, actions clipped to [-2, 2]: (best, worst final value, evaluations)."""
    gen = torch.Generator().manual_seed(seed)
    a = (torch.rand(starts, d, generator=gen) * 4 - 2).requires_grad_(True)
    opt = torch.optim.Adam([a], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        (-q_fn(a).sum()).backward()  # ascend Q by descending -Q
        opt.step()
        with torch.no_grad():
            a.clamp_(-2.0, 2.0)
    with torch.no_grad():
        final = q_fn(a)
    return final.max().item(), final.min().item(), starts * (steps + 1)


print(f"{'d':>2} {'grid k=11: evals':>17} {'best Q':>7} {'time ms':>8}   "
      f"{'ascent, 8 starts: evals':>23} {'best Q':>7} {'worst start':>11} {'time ms':>8}")
for d in (1, 2, 3, 4, 5):
    q_fn = make_toy_q(d, seed=SEED + d)
    t0 = time.perf_counter()
    g_val, g_evals = grid_max(q_fn, d, k=11)
    t1 = time.perf_counter()
    a_best, a_worst, a_evals = gradient_ascent_max(q_fn, d)
    t2 = time.perf_counter()
    print(f"{d:>2} {g_evals:>17,} {g_val:>7.3f} {1e3 * (t1 - t0):>8.1f}   "
          f"{a_evals:>23,} {a_best:>7.3f} {a_worst:>11.3f} {1e3 * (t2 - t1):>8.1f}")

# %% [markdown]
# Read the table row by row: the grid's cost multiplies by 11 with every added action dimension (and its answer
# is only as fine as the grid), while gradient ascent costs the same for every $d$ but gives no guarantee: the
# "worst start" column shows starts that stopped at a local maximum far below the best one. And this search is
# needed **at every step to act, and for every sample of every minibatch to build the target**
# $\max_{a'} Q(s', a')$. Methods that keep a Q-function for continuous actions add an actor to do this search
# for them (DDPG, TD3, SAC; see Further reading).
#
# With one action dimension, discretising is cheap, and it can work very well. The measured experiment, run once
# by `notebooks/scripts/nb02_pendulum.py` (stored in `data/nb02_pendulum.json`), compares on Pendulum-v1 with the
# same 50,000-step budget and three seeds:
#
# * DQN over $k = 3, 5, 11$ evenly spaced torques (the script wraps Pendulum so that action $i$ applies torque
#   level $i$);
# * PPO with a Gaussian actor (the actor-critic of notebooks 04-07; here it only matters that its actor outputs a
#   mean and a standard deviation);
# * the same PPO with a categorical actor over 11 torques, so that only the action head differs.

# %%
pend = json.loads((DATA / "nb02_pendulum.json").read_text())
for k in (3, 5, 11):
    print(f"k = {k:>2} torque levels: {np.round(np.linspace(-2, 2, k), 2).tolist()}")
print(f"\nbudget {pend['total_steps']:,} env steps per run; returns are per 200-step episode (0 is the best possible)")
print(f"{'':22} {'last-20 training return':>30} {'greedy eval return':>30} {'wall s':>7}")
labels = list(dict.fromkeys(r["label"] for r in pend["runs"]))
fig, ax = plt.subplots()
for label in labels:
    runs = [r for r in pend["runs"] if r["label"] == label]
    plots.plot_seeds(ax, [(r["env_steps"], r["return_mean"]) for r in runs], label)
    print(f"{label:22} {plots.mean_and_spread([r['return_mean'][-1] for r in runs]):>30} "
          f"{plots.mean_and_spread([r['eval_return_mean'] for r in runs]):>30} "
          f"{np.mean([r['seconds'] for r in runs]):>7.0f}")
ax.set_xlabel("env steps")
ax.set_ylabel("mean return, last 20 training episodes")
ax.set_title("Pendulum-v1: discretised torques against a Gaussian actor (stored runs)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# How to read the table above, honestly:
#
# * **With one action dimension, discretising works.** Compare the DQN rows with the PPO rows: at this budget DQN
#   over a handful of torques is not held back by its coarse action set, and the number of levels matters
#   little. The table shows no case against discretisation on Pendulum, and it is not meant to: in one
#   dimension the max over $k$ outputs is a cheap look-up.
# * **The action head is not what separates the two families here.** The two PPO rows differ only in the actor's
#   output (a Gaussian, or 11 categories); compare their gap with their spread. The gap to DQN comes from
#   elsewhere: DQN is off-policy and replays every transition many times, while PPO learns from each rollout for
#   a few epochs and then discards it (notebook 04 onwards).
# * **The obstacle appears with more dimensions**, as the grid-search table showed: $k^d$ outputs and a
#   search at every step. A 7-joint arm with 11 levels per joint would need $11^7 \approx 19.5$ million
#   outputs. A Gaussian actor needs 7 means and 7 standard deviations, whatever the resolution.
#
# ### 4.5 Erratum: which target is high-variance?
#
# **The common claim** (it appears in tutorials and in this course's source notes): *Q-learning suffers from
# high variance because it learns from raw returns.*
#
# **Why it fails:** Q-learning never uses raw returns. Its target $r + \gamma \max_{a'} Q(s', a')$ contains one
# real reward and one estimate. The estimator that sums raw rewards is the **Monte Carlo return** used by
# REINFORCE. Bootstrapping trades variance for bias, not the other way round.
#
# **The measurement.** First a two-state chain whose answers are known exactly (`course_lib.envs.TwoStateChain`:
# reward 0 in state 0 and 1 in state 1, the policy switches state with probability $q$). From the *same* start
# state we compare the one-step TD target $r + \gamma V(s')$ and the Monte Carlo return $G$: exact means and
# variances (from the Bellman equations for the first and second moments) and estimates from 4000 sampled
# episodes.

# %%
def chain_moments(env, gamma, q):
    """Exact V, Var[G] and Var[TD target] (with the true V) per state of the two-state chain, each shape (2,).

    Second moments of the return satisfy M(s) = r_s^2 + 2 gamma r_s (P V)(s) + gamma^2 (P M)(s).
    """
    p = env.transition_matrix((q, q))
    r = np.array(env.rewards)
    v = env.true_values(gamma, (q, q))
    # (I - gamma^2 P) M = r^2 + 2 gamma r (P V)
    m = np.linalg.solve(np.eye(2) - gamma**2 * p, r**2 + 2 * gamma * r * (p @ v))
    var_mc = m - v**2
    # TD target y = r_s + gamma V(s'):  Var[y] = gamma^2 (E[V(s')^2] - E[V(s')]^2)
    var_td = gamma**2 * (p @ v**2 - (p @ v) ** 2)
    return v, var_mc, var_td


def sample_chain(env, gamma, q, s0, n, horizon, rng):
    """n sampled episodes of the chain from state s0: (Monte Carlo returns, first rewards, second states), each (n,).

    The dynamics are those of TwoStateChain: collect rewards[s], then switch state with probability q.
    gamma^horizon is negligible, so cutting the sum there changes nothing visible.
    """
    r = np.array(env.rewards)
    s = np.full(n, s0)
    ret = np.zeros(n)
    for t in range(horizon):
        ret += gamma**t * r[s]
        switch = rng.random(n) < q
        s = np.where(switch, 1 - s, s)
        if t == 0:
            first_reward, s1 = r[np.full(n, s0)], s.copy()
    return ret, first_reward, s1


# %%
# NBVAL_CHECK_OUTPUT
chain = TwoStateChain(rewards=(0.0, 1.0), time_limit=None)
GAMMA_CHAIN, Q_SWITCH, N_EPISODES = 0.9, 0.3, 4000
v_true, var_mc, var_td = chain_moments(chain, GAMMA_CHAIN, Q_SWITCH)
rng = np.random.default_rng(SEED)
print(f"gamma = {GAMMA_CHAIN}, switch probability q = {Q_SWITCH}; sampled columns use {N_EPISODES} episodes")
print(f"{'start':>5} {'V true':>7} | {'MC mean':>8} {'MC var':>7} {'(exact)':>8} | "
      f"{'TD mean':>8} {'TD var':>7} {'(exact)':>8} | {'TD mean, V = 0':>15}")
for s0 in (0, 1):
    g, r0, s1 = sample_chain(chain, GAMMA_CHAIN, Q_SWITCH, s0, N_EPISODES, horizon=300, rng=rng)
    td = r0 + GAMMA_CHAIN * v_true[s1]  # TD target with the true values
    td_untrained = r0 + GAMMA_CHAIN * 0.0  # ... and with a critic that still outputs 0 everywhere
    print(f"{s0:>5} {v_true[s0]:>7.3f} | {g.mean():>8.3f} {g.var():>7.3f} {var_mc[s0]:>8.3f} | "
          f"{td.mean():>8.3f} {td.var():>7.3f} {var_td[s0]:>8.3f} | {td_untrained.mean():>15.3f}")
print(f"variance ratio MC / TD (exact): state 0 {var_mc[0] / var_td[0]:.1f}, state 1 {var_mc[1] / var_td[1]:.1f}")

# %% [markdown]
# Both estimators have the right mean here, because the TD target used the *true* $V$; the Monte Carlo return's
# variance is larger by the printed ratio. The last column shows the other side: with a critic that is still wrong (all
# zeros), the TD target's mean is far from $V$ — that is its bias.
#
# **The same on CartPole, with a learned critic.** Take the A2C agent trained above (seed 0). From 10 states it
# visits, run 30 continuations each: the one-step TD target $1 + \gamma V_w(s')$ from its own critic, and the
# discounted Monte Carlo return of the whole continuation (up to 500 steps) under the same stochastic policy.
# CartPole's physics are deterministic, so all randomness comes from the policy's action samples: one sample
# for the TD target, hundreds for the return. (The continuations run in Gymnasium's native CartPole vector env,
# whose `state` array we overwrite to start every copy in a chosen state.)

# %%
def visited_states(agent, n_states, every, seed):
    """``n_states`` physical states (x, x_dot, theta, theta_dot) met by the stochastic policy, every ``every`` steps."""
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    states, t = [], 0
    while len(states) < n_states:
        if t % every == 0:
            states.append(np.array(env.unwrapped.state, dtype=np.float64))
        obs, _, terminated, truncated, _ = env.step(int(agent.act(obs[None], deterministic=False)[0]))
        t += 1
        if terminated or truncated:
            obs, _ = env.reset()
            t = 0
    env.close()
    return np.stack(states)


def td_targets_and_returns(agent, states, n_samples, gamma, seed, horizon=500):
    """From each of S states, ``n_samples`` continuations: one-step TD targets and MC returns, each (S, n_samples)."""
    n = len(states) * n_samples
    envs = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
    envs.reset(seed=seed)
    start = np.repeat(states, n_samples, axis=0)  # (n, 4)
    envs.unwrapped.state = start.T.copy()  # the native vector env keeps its physics state as (4, n)
    envs.unwrapped.steps[:] = 0
    obs = start.astype(np.float32)
    ret, discount, alive = np.zeros(n), 1.0, np.ones(n, dtype=bool)
    for t in range(horizon):
        obs, reward, terminated, truncated, _ = envs.step(agent.act(obs, deterministic=False))
        if t == 0:
            with torch.no_grad():
                v_next = agent.value(agent.normalise(torch.as_tensor(obs))).numpy()
            # y = r + gamma * (1 - terminated) * V(s')
            td = reward + gamma * (1.0 - terminated) * v_next
        # G = sum_t gamma^t r_t, counted until each copy's episode ends
        ret += discount * reward * alive
        discount *= gamma
        alive &= ~(terminated | truncated)
        if not alive.any():
            break
    envs.close()
    return td.reshape(len(states), n_samples), ret.reshape(len(states), n_samples)


torch.manual_seed(SEED)
a2c_agent = h2h_agents["A2C"][0]
cp_states = visited_states(a2c_agent, n_states=10, every=10, seed=SEED + 1)
cp_td, cp_mc = td_targets_and_returns(a2c_agent, cp_states, n_samples=30, gamma=A2C_CONFIG.gamma, seed=SEED + 2)
with torch.no_grad():
    cp_v = a2c_agent.value(torch.as_tensor(cp_states, dtype=torch.float32)).numpy()
print(f"{'state':>5} {'V(s) critic':>11} {'TD mean':>8} {'TD var':>8} {'MC mean':>8} {'MC var':>8}")
for i in range(len(cp_states)):
    print(f"{i:>5} {cp_v[i]:>11.1f} {cp_td[i].mean():>8.1f} {cp_td[i].var():>8.2f} "
          f"{cp_mc[i].mean():>8.1f} {cp_mc[i].var():>8.1f}")
print(f"averaged over the states: Var[TD target] = {cp_td.var(axis=1).mean():.2f}, "
      f"Var[MC return] = {cp_mc.var(axis=1).mean():.1f}, "
      f"mean |TD mean - MC mean| = {np.abs(cp_td.mean(axis=1) - cp_mc.mean(axis=1)).mean():.1f}")

fig, ax = plt.subplots()
x = np.arange(len(cp_states))
for i in x:
    ax.scatter(np.full(cp_mc.shape[1], i - 0.12), cp_mc[i], s=8, color=plots.PALETTE[1], alpha=0.6,
               label="Monte Carlo return" if i == 0 else None)
    ax.scatter(np.full(cp_td.shape[1], i + 0.12), cp_td[i], s=8, color=plots.PALETTE[0], alpha=0.6,
               label="one-step TD target" if i == 0 else None)
ax.set_xticks(x)
ax.set_xlabel("start state")
ax.set_ylabel("target for V(s)")
ax.set_title("CartPole-v1, A2C seed 0: 30 samples of each target per state")
ax.legend()
plt.show()

# %% [markdown]
# The strip plot and the printed averages say the same thing from a real task: the Monte Carlo returns from one
# state spread widely, the TD targets hardly at all, and where the critic is still inaccurate, the TD targets sit
# away from the returns' mean (the bias). **The right version:**
#
# * one-step TD targets (Q-learning, SARSA, a critic's $\delta$) have **low variance but are biased** while the
#   value estimate is wrong;
# * Monte Carlo returns (REINFORCE) are **unbiased but high-variance**; actor-critic methods reduce the policy
#   gradient's variance by putting a critic's bootstrapped estimate in their place (notebook 03 interpolates
#   between the two with GAE($\lambda$));
# * **tabular** Q-learning cannot scale to large state spaces (section 4.2), but **Q-learning with function
#   approximation does**: DQN (Mnih et al., 2015) learned 49 Atari games from raw pixels, a state space no table
#   could hold;
# * Q-learning's real obstacle is the $\max$ over **continuous actions** (section 4.4), which is what
#   DDPG, TD3 and SAC address with an actor.

# %% [markdown]
# ## 5. Explore
#
# **Explorer 1: grid size for tabular CartPole.** Move the slider through the stored runs of section 4.2. The
# plot highlights the chosen grid against the others; the text gives its table size, how much of the table was
# ever updated, and its returns. Nothing is retrained, so it reacts at once.

# %%
equal_grids = [b for b in tables_by_bins if len(set(b)) == 1]


def show_grid(bins_per_dim):
    grid_bins = (bins_per_dim,) * 4
    runs = tables_by_bins[grid_bins]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for other in equal_grids:
        if other != grid_bins:
            curves = np.array([r["curve_return"] for r in tables_by_bins[other]])
            ax.plot(runs[0]["curve_episode"], curves.mean(axis=0), color="0.8", lw=1)
    hand = tables_by_bins[(1, 1, 6, 12)]
    ax.plot(hand[0]["curve_episode"], np.mean([r["curve_return"] for r in hand], axis=0), color="0.4", ls="--",
            lw=1, label="hand-made (1, 1, 6, 12)")
    plots.plot_seeds(ax, [(r["curve_episode"], r["curve_return"]) for r in runs], f"b = {bins_per_dim}")
    ax.set_ylim(0, 320)
    ax.set_xlabel("episode")
    ax.set_ylabel("mean return (last 50 episodes)")
    ax.legend(fontsize=8, loc="upper left")
    plt.show()
    entries = runs[0]["table_entries"]
    visited = np.mean([r["visited_fraction"] for r in runs])
    print(f"b = {bins_per_dim}: {bins_per_dim}^4 = {runs[0]['n_states']:,} states x 2 actions = {entries:,} entries; "
          f"ever updated: {visited:.1%} (about {visited * entries:,.0f} entries)")
    print(f"last-100 training return {plots.mean_and_spread([r['final_return_mean'] for r in runs])}; "
          f"greedy eval return {plots.mean_and_spread([r['eval_return_mean'] for r in runs])}")


widgets.interact(show_grid, bins_per_dim=widgets.SelectionSlider(
    options=[b[0] for b in equal_grids], value=6, description="bins per dim", continuous_update=False));

# %% [markdown]
# **Explorer 2: the cost of discretising actions.** With $d$ action dimensions and $k$ levels each, a Q-network
# needs $k^d$ outputs; a Gaussian actor needs $d$ means (plus $d$ log-standard deviations). The grid's best
# action also misses the true best one: for a target $a^* \sim \mathrm{Uniform}[-2, 2]^d$ and a quadratic
# $Q(s, a) = -\lVert a - a^* \rVert^2$, the expected loss is $d \, h^2 / 12$ with spacing $h = 4 / (k - 1)$ (the
# distance to the nearest level is uniform on $[0, h/2]$ in each dimension).

# %%
def discretisation_cost(k, d):
    """Joint actions, output-layer weights (64 hidden units) and expected Q loss of a k-level grid in d dims."""
    h = 4.0 / (k - 1)
    # E[min_i (a*_j - level_i)^2] = h^2 / 12 per dimension
    return k**d, 65 * k**d, d * h**2 / 12


def show_discretisation(k, d):
    dims = np.arange(1, 9)
    fig, ax = plt.subplots(figsize=(7, 3.0))
    ax.semilogy(dims, [discretisation_cost(k, j)[0] for j in dims], "o-", label=f"Q-network outputs, k = {k}")
    ax.semilogy(dims, 2 * dims, "s-", label="Gaussian actor: d means + d log-stds")
    ax.semilogy([d], [k**d], "o", ms=12, mfc="none", color="#D55E00")
    ax.set_xlabel("action dimensions d")
    ax.set_ylabel("numbers the network outputs")
    ax.legend(fontsize=8)
    plt.show()
    joint, weights, loss = discretisation_cost(k, d)
    print(f"k = {k}, d = {d}: {joint:,} joint actions, {weights:,} weights in the Q-network's last layer, "
          f"expected Q loss of the grid's best action {loss:.4f}")


widgets.interact(show_discretisation, k=widgets.IntSlider(value=5, min=2, max=21, description="levels k",
                                                         continuous_update=False),
                 d=widgets.IntSlider(value=3, min=1, max=8, description="dims d", continuous_update=False));

# %% [markdown]
# A check of the closed form against a sampled estimate (50,000 random targets $a^*$ each):

# %%
# NBVAL_CHECK_OUTPUT
rng = np.random.default_rng(SEED)
for k, d in ((5, 1), (7, 3)):
    levels = np.linspace(-2, 2, k)
    a_star = rng.uniform(-2, 2, size=(50_000, d))
    nearest = levels[np.abs(a_star[..., None] - levels).argmin(axis=-1)]
    sampled = ((a_star - nearest) ** 2).sum(axis=1).mean()
    joint, weights, exact = discretisation_cost(k, d)
    print(f"k = {k:>2}, d = {d}: {joint:>6,} joint actions; expected loss exact {exact:.4f}, sampled {sampled:.4f}")

# %% [markdown]
# **Explorer 3: TD against Monte Carlo on the chain.** The exact variances of section 4.5 for any discount and
# switch probability (closed forms, so every move is instant). Watch the Monte Carlo variance as $\gamma \to 1$:
# the return sums ever more random rewards, while the TD target still has a single random step.

# %%
def show_chain(gamma, q):
    gammas = np.linspace(0.5, 0.99, 50)
    curves = np.array([chain_moments(chain, g, q)[1:] for g in gammas])  # (50, 2 estimators, 2 states)
    fig, ax = plt.subplots(figsize=(7, 3.0))
    ax.semilogy(gammas, curves[:, 0, 0], label="Var[MC return], start 0")
    ax.semilogy(gammas, curves[:, 1, 0], label="Var[TD target], start 0")
    ax.axvline(gamma, color="0.5", ls=":")
    ax.set_xlabel("gamma")
    ax.set_ylabel("variance")
    ax.legend(fontsize=8)
    plt.show()
    v, var_mc, var_td = chain_moments(chain, gamma, q)
    print(f"gamma = {gamma:.2f}, q = {q:.2f}: V = {np.round(v, 3).tolist()}, Var[MC] = {np.round(var_mc, 3).tolist()}, "
          f"Var[TD] = {np.round(var_td, 3).tolist()}, ratio MC / TD = {np.round(var_mc / var_td, 1).tolist()}")


widgets.interact(show_chain,
                 gamma=widgets.FloatSlider(value=0.9, min=0.5, max=0.99, step=0.01, description="gamma",
                                           continuous_update=False),
                 q=widgets.FloatSlider(value=0.3, min=0.05, max=0.95, step=0.05, description="switch q",
                                       continuous_update=False));

# %% [markdown]
# ## 6. Check your understanding
#
# Pick an answer and press the button; every choice has its own explanation.

# %%
quiz.show("02.continuous_actions")

# %%
quiz.show("02.td_vs_mc")

# %%
quiz.show("02.large_state_spaces")

# %%
quiz.show("02.max_over_actions")

# %%
quiz.show("02.off_policy")

# %%
quiz.show("02.discretise_count")

# %% [markdown]
# **A graded answer cell.** When a course is marked, the grader reads cells that start with `# QUIZ: <id>` and
# marks the value assigned to `answer`, without running the notebook. Replace `None` with your choice (`"a"` to
# `"d"`) and run the cell for feedback. Left as `None`, the cell scores 0 with the reason "not answered".

# %%
# QUIZ: 02.td_vs_mc
answer = None  # your choice, e.g. answer = "a"
quiz.check("02.td_vs_mc", answer)

# %% [markdown]
# ## 7. Debug the bug
#
# Two bugs that appear in real code. In each, fix the function in the `# EXERCISE:` cell, run it, then run the
# check below it. The check prints FAIL with a hint on the code as shipped; that FAIL is expected until you fix
# it.
#
# ### 7.1 argmax over a continuous action space
#
# A pendulum controller needs a torque, a real number. The function below "picks the best action" with
# `argmax`, as one would with a Q-network's outputs. Fix it so that it *samples* from the Gaussian policy the
# docstring describes.

# %%
# EXERCISE: 02.continuous_sampling
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

# %%
exercises.check("02.continuous_sampling", select_action);

# %% [markdown]
# After you have tried, `exercises.solution("02.continuous_sampling")` shows a worked solution.
#
# **Erratum (a fix that circulates for this bug).** `action = actor(state).sample()` does not run: an actor
# like the one above returns a tensor of means, and a tensor has no `.sample()`. The distribution has to be
# built first, from the mean and the standard deviation, and then sampled. Store that sample as it is (its
# log-probability is what the policy gradient needs) and clip only the copy you send to `env.step`.
#
# ### 7.2 A Q target that bootstraps past the end
#
# These DQN targets keep adding $\gamma \max_{a'} Q(s', a')$ even when $s'$ is terminal. Fix them.

# %%
# EXERCISE: 02.terminal_bootstrap
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

# %%
exercises.check("02.terminal_bootstrap", q_targets);

# %% [markdown]
# After trying, `exercises.solution("02.terminal_bootstrap")` shows the fix and explains why a time-limit
# truncation is treated differently.
#
# ## 8. In practice
#
# **Starting points** (not laws: each is the value used above, with what this notebook measured about it).
#
# | setting | used here | what was measured |
# |---|---|---|
# | tabular grid, bins per dimension | 1-14, and a hand-made (1, 1, 6, 12) | section 4.2: too coarse cannot act, too fine is never visited; the hand-made grid beat every equal one |
# | tabular $\alpha$, $\varepsilon$ | 0.5 / 0.1 (cliff), 0.1 / 1 → 0.05 (CartPole) | constant $\varepsilon$ costs online return next to a cliff (section 4.1) |
# | DQN network, train frequency | 64 × 64, one gradient step per 4 env steps, batch 64 | learns CartPole's continuous state with a few thousand parameters and no grid (section 4.3) |
# | DQN exploration | $\varepsilon$: 1 → 0.05 over 4,000 steps | not varied here; the schedule counts env steps, so it must shrink with the budget |
# | DQN target network | copied every 500 env steps | not varied here; it keeps the target $y$ from moving with every gradient step |
# | A2C | 8 envs × 8 steps, lr $10^{-3}$ constant | cheap per env step (section 4.3's wall-clock column) |
# | action discretisation | 3, 5, 11 torques | fine for one dimension (section 4.4); the output count is $k^d$ |
#
# Learning rates are often quoted as a rule ("actor $10^{-4}$, critic $10^{-3}$"). They are starting points at
# best: the A2C above trains actor and critic with one optimiser at $10^{-3}$ and learns CartPole (section 4.3),
# and the right values change with the network, the batch size and the reward scale.
#
# **Diagnostics and healthy ranges**
#
# * *Tabular:* the share of table entries ever updated (section 4.2). If most of the table is untouched, the
#   greedy policy is acting on initial values.
# * *DQN:* $\max_a Q(s, a)$ should stay below $r_{\max} / (1 - \gamma)$ (100 for CartPole with $\gamma = 0.99$,
#   printed in section 4.3). Values far above it mean over-estimation or divergence (double DQN, a slower target
#   update or a smaller learning rate help). The TD loss does not fall steadily as in supervised learning: the
#   targets move.
# * *A2C:* policy entropy should fall slowly, not collapse to 0 in the first updates; the critic's explained
#   variance should rise towards 1 (notebook 03 looks at both).
#
# **Common failure signs:** a tabular agent whose return stops improving while most cells are unvisited (grid too
# fine); a DQN whose returns collapse after a good phase (target updated too often, learning rate too high); a
# Q-target that ignores `terminated` (exercise 7.2: values keep growing at episode ends); treating a time-limit
# `truncated` as `terminated` (the value of good states near the limit is underestimated); a continuous actor
# whose actions never vary (argmax or the mean used where a sample is needed, exercise 7.1).

# %% [markdown]
# ## 9. Critical view and ethics
#
# * **These are toy measurements.** Three seeds, short budgets, untuned settings on CartPole and Pendulum. They
#   show mechanisms (a table that is never visited, a max that becomes a search, a target that is noisy or
#   biased), not which algorithm family is better in general. Published comparisons vary with tuning effort and
#   code-level details (Henderson et al., 2018, show how much seeds and implementations alone change results).
# * **Discretisation hides design choices.** The hand-made CartPole grid won because a person encoded what
#   matters. In a real controller, a coarse action grid means jerky, bang-bang actuation that wears hardware and
#   can be unsafe; its choice deserves the same review as any other safety-relevant parameter.
# * **Readable is not the same as correct.** A Q-table is easy to inspect cell by cell, a network is not; but a
#   table's unvisited cells are silent guesses. Inspecting a policy should include *where it has no data*.
# * **Compute has a cost.** At the same env-step budget DQN used more computation per step than A2C here; report
#   wall-clock time and hardware alongside sample efficiency.

# %% [markdown]
# ## 10. Further reading
#
# * **Watkins (1989)**, *Learning from Delayed Rewards* (PhD thesis), and **Watkins & Dayan (1992)**,
#   "Q-learning", *Machine Learning*: the algorithm and its convergence proof for tables.
# * **Rummery & Niranjan (1994)**, "On-line Q-learning using connectionist systems": the on-policy update later
#   called SARSA.
# * **Sutton & Barto (2018)**, *Reinforcement Learning: An Introduction*, 2nd ed.: ch. 6 (TD learning, the
#   cliff-walking example, bias and variance of TD vs Monte Carlo), ch. 9-11 (function approximation), ch. 13
#   (policy gradients, actor-critic).
# * **Mnih et al. (2015)**, "Human-level control through deep reinforcement learning", *Nature*: DQN, replay
#   buffer and target network; 49 Atari games from pixels, the answer to "Q-learning cannot scale".
# * **van Hasselt, Guez & Silver (2016)**, "Deep Reinforcement Learning with Double Q-learning": the
#   over-estimation of max-targets and the double-DQN fix.
# * **Mnih et al. (2016)**, "Asynchronous Methods for Deep Reinforcement Learning": A3C, whose synchronous
#   variant is the A2C used here.
# * **Lillicrap et al. (2016)**, "Continuous control with deep reinforcement learning" (DDPG): a deterministic
#   actor trained to output $\arg\max_a Q(s, a)$, so the max needs no search.
# * **Gu et al. (2016)**, "Continuous Deep Q-Learning with Model-based Acceleration" (NAF): a Q-function built
#   quadratic in the action, so its max is known in closed form.
# * **Fujimoto, van Hoof & Meger (2018)**, "Addressing Function Approximation Error in Actor-Critic Methods"
#   (TD3), and **Haarnoja et al. (2018)**, "Soft Actor-Critic" (SAC): the off-policy actor-critics used for
#   continuous control today.
# * **Kalashnikov et al. (2018)**, "QT-Opt": keeps a Q-function for robot grasping and solves the max over
#   actions with the cross-entropy method, a search at every step.
# * **Tavakoli, Pardo & Kormushev (2018)**, "Action Branching Architectures for Deep Reinforcement Learning": one
#   output branch per action dimension instead of $k^d$ joint outputs.
# * **Pardo et al. (2018)**, "Time Limits in Reinforcement Learning": why `truncated` must keep its bootstrap.
# * **Henderson et al. (2018)**, "Deep Reinforcement Learning that Matters": seeds, variance and fair comparisons.
#
# *A note on dates:* DDPG, TD3, SAC and TRPO are sometimes listed as "post-2020" research. They are not: TRPO
# is from 2015, DDPG from 2015/16, TD3 and SAC from 2018. Work on these questions that does date from after 2020
# includes Andrychowicz et al. (2021), "What Matters in On-Policy Reinforcement Learning?", a large study of
# the design choices of on-policy actor-critics, and Huang et al. (2022), "The 37 Implementation Details of
# Proximal Policy Optimization".

# %% [markdown]
# ## 11. Glossary and key takeaways
#
# | term | short definition |
# |---|---|
# | Q-learning | off-policy TD control: target $r + \gamma \max_{a'} Q(s', a')$ |
# | SARSA | on-policy TD control: target $r + \gamma Q(s', a')$ with the action really taken |
# | DQN | Q-learning with a neural network, a replay buffer and a target network |
# | discretisation | mapping a continuous state or action to one of finitely many bins |
# | curse of dimensionality | a grid with $b$ bins in each of $n$ dimensions has $b^n$ cells |
# | bootstrapping | using a current value estimate inside a learning target |
# | bias / variance of a target | how far its mean is from the true value / how much it scatters around its mean |
# | Gaussian actor | a policy $\mathcal{N}(\mu_\theta(s), \sigma^2)$ for continuous actions: sample, no max |
# | terminated / truncated | the task ended (no bootstrap) / a time limit cut it (bootstrap from $V(s')$) |
#
# **Key takeaways**
#
# 1. Tabular Q-learning is simple and exact when every state-action pair can be visited often (CliffWalking).
# 2. Tables break on continuous or large state spaces because every cell is learned alone; function approximation
#    (DQN) removes that limit, so "Q-learning cannot scale to large state spaces" is true only of tables.
# 3. The real limit of Q-learning is the $\max$ over actions: with continuous actions it is a search at every
#    step and in every target; discretising works in one or two dimensions and explodes as $k^d$.
# 4. An actor outputs a distribution and samples from it; nothing is maximised over actions.
# 5. One-step TD targets are low-variance and biased; Monte Carlo returns are unbiased and high-variance.
#
# **Next:** notebook 03, `03_baselines_and_advantage.ipynb`, turns the last point into a tool: baselines,
# advantages and GAE($\lambda$), a dial between the two targets.
