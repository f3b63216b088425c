# %% [markdown]
# # 07 · PPO end to end: one loss, one loop, two tasks
#
# **After this notebook you can**
# - write PPO's combined loss $-L^{CLIP} + c_1 L^{VF} - c_2 H$ and say what each coefficient does (and why
#   $\lambda$ is the wrong name for $c_1$);
# - read, line by line, a complete PPO training loop for Gymnasium 1.x vector environments (next-step autoreset,
#   truncation bootstrapped, GAE, shuffled minibatches, several epochs, gradient clipping, KL early stopping) and
#   check it against `course_lib`'s PPO number for number;
# - train CartPole-v1 to a return of 500 and Pendulum-v1 with a Gaussian policy, and read the diagnostics
#   dashboard (return, value loss, entropy, approximate KL, clip fraction, explained variance);
# - keep bounded continuous actions legal by clipping the environment's copy or by a tanh-squashed Gaussian with its
#   change-of-variables term, say what each does to the mean, the entropy and the learning signal when the bound
#   binds, and choose between a state-dependent and a state-independent $\log\sigma$;
# - judge implementation details by an ablation across seeds with 95 % bootstrap confidence intervals, and move
#   the same task to Stable-Baselines3, knowing which settings differ;
# - fine-tune a tiny language model with PPO against a frozen reference, and show with measurements why the KL
#   term goes in the reward with k1 (or in the loss with k3, not k1), and what GRPO's group baseline trades
#   against a learned critic.
#
# **Prerequisites:** notebooks 03 (advantages and GAE), 04 (the clipped surrogate) and 06 (normalisation);
# PyTorch autograd and `torch.optim.Adam`.
#
# **Time:** about 60 minutes to read and try. Running all cells takes **78 s** on a 2-core CPU without a GPU
# (measured from a fresh kernel by `make time-notebooks`, load average 1.07; a busier machine is slower). Three
# longer results (the full ablation, the Stable-Baselines3 comparison, the 100k-step Pendulum run) come from
# scripts in `notebooks/scripts/` (`make data`) and are loaded with a check that they still match today's code
# and settings.

# %%
import math
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, Markdown, display
from torch import nn
from tqdm.auto import tqdm

from course_lib import exercises, plots, quiz, stored_results
from course_lib.agent import ActorCriticAgent, AgentSpec
from course_lib.algos import ppo
from course_lib.claims import claim
from course_lib.envs import make_env, make_vec_env
from course_lib.losses import entropy_bonus, ppo_clip_loss, value_loss
from course_lib.stats import bootstrap_ci
from course_lib.evaluation import animate_episode, evaluate
from course_lib.record import History, UpdateRow, steps_to_threshold
from stable_baselines3 import PPO as SB3PPO
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env

torch.set_num_threads(1)
plots.use_course_style()
SEED = 1  # the training seed of the CartPole and Pendulum runs below
SEEDS = (1, 2, 3, 4, 5)  # the live comparison runs once per seed (the stored runs use more seeds)
EVAL_SEED = 0  # evaluation episode k starts from reset(seed=EVAL_SEED + k)
LIVE_SWITCH = "+ shared network"  # the detail the live ablation (section 4.3) changes
torch.manual_seed(SEED)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. Intuition and terms
#
# Think of a football team that records one training match, then sits down to study the video. The coach (the
# **critic**) says, for each moment, how promising the position was; the players (the **actor**) compare what
# actually happened with that forecast and decide which moves to do more often. They rewatch the same video a few
# times, because recording a match is expensive, but not fifty times: after a while they are drawing conclusions
# about a team they no longer are. Then they play the next match with the changed habits and record again.
#
# PPO is that cycle. Each iteration **collects** a fixed-length batch with the current policy from several
# environments at once, **scores** every step with advantages from the critic (GAE), and **learns** from the batch
# for a few epochs of shuffled minibatches, with the clipped objective and a KL watch keeping the new policy close
# to the one that played. The figure is the loop this notebook writes out in full.

# %%
fig, ax = plt.subplots(figsize=(10, 2.8))
ax.set_axis_off()
boxes = [
    (0.02, "collect\nN envs x T steps:\na ~ pi_old, logp_old, V_old"),
    (0.27, "score\nGAE(gamma, lam):\nadv; ret = adv + V_old"),
    (0.52, "learn\nK epochs x M minibatches:\n-L_clip + c1 L_VF - c2 H"),
    (0.77, "watch\napprox KL, clip fraction,\nentropy, explained var."),
]
for x0, text in boxes:
    ax.add_patch(plt.Rectangle((x0, 0.3), 0.21, 0.55, facecolor="#E8F1FA", edgecolor=plots.PALETTE[0]))
    ax.text(x0 + 0.105, 0.575, text, ha="center", va="center", fontsize=8)
for x0 in (0.23, 0.48, 0.73):
    ax.annotate("", xy=(x0 + 0.04, 0.575), xytext=(x0, 0.575), arrowprops=dict(arrowstyle="->"))
ax.annotate("", xy=(0.125, 0.28), xytext=(0.875, 0.28),
            arrowprops=dict(arrowstyle="->", connectionstyle="arc3,rad=-0.12", color=plots.PALETTE[3]))
ax.text(0.5, 0.02, "pi_old <- pi_theta; repeat (the data is thrown away: PPO is on-policy)", ha="center",
        fontsize=9, color=plots.PALETTE[3])
ax.set_xlim(0, 1)
ax.set_ylim(-0.05, 0.9)
plots.show(fig, alt="Diagram of the PPO loop: four boxes joined by arrows, collect (N environments for T "
                    "steps), score (GAE advantages and returns), learn (K epochs of M minibatches on the "
                    "clipped loss) and watch (approximate KL, clip fraction, entropy, explained variance), "
                    "and an arrow back to the start: the old policy is replaced and the data thrown away.")

# %% [markdown]
# **Key terms**
#
# - **Rollout**: $T$ steps of each of $N$ parallel environments, stored time-major as tensors of shape $(T, N)$.
# - **Next-step autoreset** (Gymnasium 1.x vector envs): when sub-env $i$ ends at step $t$, the observation
#   returned is its final one; at step $t+1$ it ignores the action and returns the first observation of a new
#   episode with reward 0. That step is *invalid* and left out of every loss.
# - **terminated / truncated**: a true end of the task (no future value) versus a time limit (the state still has
#   a value, so we bootstrap from $V$ of the final observation).
# - **Epoch / minibatch**: one pass over the rollout, split into $M$ shuffled minibatches, one Adam step each.
# - **Tanh-squashed Gaussian**: $a$ = the Gaussian sample $u$ squashed into the action box by $\tanh$; its
#   $\log\pi(a|s)$ carries a change-of-variables (log-det-Jacobian) term that plain clipping does not need.
# - **Approximate KL**: an estimate of $\mathrm{KL}(\pi_{old}\,\|\,\pi_\theta)$ from the batch; **clip fraction**:
#   the share of samples whose ratio left $[1-\epsilon, 1+\epsilon]$; **explained variance**: how much of the
#   returns' variance the critic predicts.
# - **Ablation**: switching one detail off while keeping everything else, to measure what it contributes.
# - **Reference model, KL penalty** (section 4.6): when fine-tuning a language model, the frozen model it started
#   from, and the term $\beta\,\mathrm{KL}(\pi_\theta\,\|\,\pi_{ref})$ that keeps the policy near it.

# %% [markdown]
# ## 2. The maths
#
# **One loss for both networks.** The PPO paper (Schulman et al. 2017, eq. 9) *maximises*
#
# $$L_t^{CLIP+VF+S}(\theta) = \hat{\mathbb{E}}_t\left[L_t^{CLIP}(\theta) - c_1 L_t^{VF}(\theta) + c_2 H[\pi_\theta](s_t)\right],$$
#
# so the code *minimises* `loss = -L_clip + c1 * L_vf - c2 * H` with
#
# $$L^{CLIP} = \hat{\mathbb{E}}\left[\min\big(r_t A_t,\ \mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon) A_t\big)\right],\quad
# r_t = \frac{\pi_\theta(a_t|s_t)}{\pi_{old}(a_t|s_t)} = e^{\,\mathrm{logp} - \mathrm{logp\_old}},$$
#
# $$L^{VF} = \tfrac12\,\hat{\mathbb{E}}\left[(V_\theta(s_t) - R_t)^2\right],\qquad H = \hat{\mathbb{E}}\left[\mathcal{H}(\pi_\theta(\cdot|s_t))\right].$$
#
# - **Units of $c_1$.** Our $L^{VF}$ carries a $\tfrac12$ (as `course_lib.losses.value_loss` does, so that its
#   gradient is simply $V_\theta - R_t$). The PPO paper's $L^{VF}$ is the plain squared error
#   $(V_\theta(s_t) - V_t^{targ})^2$, and so is Stable-Baselines3's (`F.mse_loss`). The same number therefore
#   means half as much here: $c_1 = 0.5$ in this notebook weighs the mean squared error by $0.25$, i.e. it is
#   $c_1 = 0.25$ in the paper's and SB3's units, and SB3's default `vf_coef=0.5` is $c_1 = 1$ in ours. Compare
#   value coefficients across codebases only after checking which convention each uses (the cell below checks
#   ours).
# - $c_1$ (`vf_coef`, 0.5 here) weighs the critic's regression against the policy objective. It matters most when
#   actor and critic **share** a trunk: then both gradients flow into the same weights and $c_1$ sets the
#   trade-off. With separate networks and Adam it mostly rescales the critic's gradients (Adam is nearly
#   scale-free), except that *global* gradient clipping couples the two again.
# - $c_2$ (`ent_coef`) buys exploration: a larger entropy keeps the policy from becoming deterministic too early.
#   CartPole needs none ($c_2 = 0$).
# - The targets are GAE's: $\delta_t = r_t + \gamma V(s_{t+1})(1 - \mathrm{terminated}_t) - V(s_t)$,
#   $A_t = \delta_t + \gamma\lambda(1-\mathrm{done}_t)A_{t+1}$, $R_t = A_t + V_{old}(s_t)$.
#
# > **Common misconception.** The actor-critic loss is often written "$-J + \lambda L$", with $\lambda$ the
# > weight of the value loss.
# >
# > What is true: two things are off. $\lambda$ already names GAE's trace parameter (it sits in $A_t$ above, 0.8
# > for CartPole here), so reusing it for the value weight invites the bug of tuning one when you mean the other;
# > and the entropy term $-c_2 H$ is missing. The right version is the paper's (eq. 9), above, with $c_1$ and
# > $c_2$; the toy-batch cell below evaluates it term by term and checks it against `course_lib`.
#
# **Value clipping** (in OpenAI's code, not in the paper): with $V_{clip} = V_{old} + \mathrm{clip}(V_\theta -
# V_{old}, -\epsilon, \epsilon)$, use $L^{VF} = \tfrac12\hat{\mathbb{E}}[\max((V_\theta - R)^2, (V_{clip} - R)^2)]$.
# Note that $\epsilon$ is in the *units of the return* (0.2 when CartPole returns reach 50), which is why it often
# only slows the critic down (section 4.4 measures it).
#
# **Global gradient clipping**: with $g$ all gradients stacked, $g \leftarrow g\cdot\min(1, c/\lVert g\rVert)$,
# $c$ = `max_grad_norm` = 0.5. **KL early stopping**: before each minibatch step, if the k3 estimate
# $\hat{\mathbb{E}}[(r - 1) - \log r]$ exceeds `target_kl`, stop learning from this rollout.
#
# The cell below evaluates the combined loss on a fixed toy batch twice: written out, and from `course_lib`'s
# pieces. The printed numbers are checked in CI.

# %%
# NBVAL_CHECK_OUTPUT
g = torch.Generator().manual_seed(0)
logp_old_toy = torch.log(torch.rand(6, generator=g) * 0.8 + 0.1)
logp_toy = logp_old_toy + 0.3 * torch.randn(6, generator=g)  # a policy that has moved a little
adv_toy = torch.randn(6, generator=g)
v_toy, ret_toy = torch.randn(6, generator=g), torch.randn(6, generator=g)
ent_toy = torch.rand(6, generator=g)
c1, c2, eps = 0.5, 0.01, 0.2

ratio_toy = torch.exp(logp_toy - logp_old_toy)
l_clip = torch.minimum(ratio_toy * adv_toy, torch.clamp(ratio_toy, 1 - eps, 1 + eps) * adv_toy).mean()
l_vf = 0.5 * ((v_toy - ret_toy) ** 2).mean()
loss_by_hand = -l_clip + c1 * l_vf - c2 * ent_toy.mean()

clip_part, stats = ppo_clip_loss(logp_toy, logp_old_toy, adv_toy, eps)
loss_lib = clip_part + c1 * value_loss(v_toy, ret_toy) - c2 * entropy_bonus(ent_toy)
print(f"L_clip = {l_clip.item():.4f}, L_vf = {l_vf.item():.4f}, H = {ent_toy.mean().item():.4f}")
print(f"loss by hand = {loss_by_hand.item():.4f}   course_lib = {loss_lib.item():.4f}")
print(f"clip fraction = {stats.clip_fraction:.4f}, approx KL (k3) = {stats.approx_kl:.4f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
mse_toy = torch.nn.functional.mse_loss(v_toy, ret_toy)  # the paper's and SB3's L^VF, no 1/2
claim("c_1 = 0.5 here weighs the mean squared error by 0.25, i.e. it is c_1 = 0.25 in the paper's and SB3's units",
      abs(c1 * value_loss(v_toy, ret_toy).item() - 0.25 * mse_toy.item()) < 1e-6,
      f"0.5 * value_loss = {c1 * value_loss(v_toy, ret_toy).item():.6f}, 0.25 * mse = {0.25 * mse_toy.item():.6f}")
claim("loss by hand = course_lib's combined loss", abs(loss_by_hand.item() - loss_lib.item()) < 1e-6,
      f"{loss_by_hand.item():.6f} vs {loss_lib.item():.6f}")

# %% [markdown]
# ## 3. Build it: the whole PPO loop in one function
#
# Below is PPO for discrete actions, written out in one function you can read top to bottom. It uses only the
# networks from earlier notebooks (`ActorCriticAgent`: actor, critic, `policy_step` samples an action and returns
# its log-probability and value) and does everything else itself:
#
# 1. **Rollout** from a Gymnasium 1.x vector env: `reset()` returns `(obs, info)`, `step()` returns five values;
#    the step after an episode end is an autoreset step and is marked invalid.
# 2. **GAE** with `terminated` cutting the bootstrap and `truncated` keeping it (the autoreset step's stored value
#    is $V$ of the final observation, exactly the bootstrap a time limit needs).
# 3. **Flatten** the valid steps; 4. **anneal** learning rate and clip range; 5. **K epochs of shuffled
#    minibatches** with the combined loss, global gradient clipping and optional KL early stopping;
#    6. **diagnostics** averaged over the update's minibatch steps.
#
# It is written to consume torch's random numbers in the same order as `course_lib.algos.ppo` (same seeding,
# network initialisation, action sampling, one `randperm` per epoch), so the two can be compared number for
# number.
#
# > **Common misconception.** A PPO loop can be written as in many older tutorials: the old `gym` API
# > (`state = env.reset()`, `next_state, reward, done, _ = env.step(a)`), one episode per update with Monte Carlo
# > returns, and training on the full batch.
# >
# > What is true: the first breaks on Gymnasium 1.x (the last cell of section 3 shows the error), and one `done` conflates time
# > limits with real ends; the second cannot use parallel environments or minibatches and is slow (section 4.3
# > measures it: its row in the ablation, and the wall-clock ratio under it). The loop below is the version used
# > in practice (Schulman et al. 2017; Huang et al. 2022).

# %%
def ppo_from_scratch(cfg: ppo.PPOConfig, seed: int, total_steps: int, on_update=None):
    """PPO for a discrete-action task, every step written out; returns ``(agent, History)``.

    Supports the PPOConfig fields used in this notebook (no observation normalisation or reward scaling).
    ``on_update(history)`` is called after every update (for the live dashboard).
    """
    # --- setup: one seed for torch (network init, action sampling, minibatch shuffling) and for the envs -----
    torch.manual_seed(seed)
    envs = make_vec_env(cfg.env_id, cfg.num_envs, seed)  # Gymnasium 1.x vector env, next-step autoreset
    N, T = cfg.num_envs, cfg.num_steps
    spec = AgentSpec.from_spaces(envs.single_observation_space, envs.single_action_space, hidden=cfg.hidden,
                                 shared_network=cfg.shared_network, ortho_init=cfg.ortho_init)
    agent = ActorCriticAgent(spec)  # actor pi(a|s) and critic V(s)
    params = list(agent.parameters())
    # one optimiser for both networks, because there is one loss (Adam eps 1e-5 as in PPO implementations)
    optimizer = torch.optim.Adam(params, lr=cfg.learning_rate, eps=cfg.adam_eps, fused=True)

    history = History()
    obs = torch.tensor(envs.reset()[0], dtype=torch.float32)  # (N, obs_dim); reset -> (obs, info)
    prev_done = np.zeros(N, dtype=bool)  # sub-env i ended on the previous step -> this step is an autoreset step
    ep_return, ep_length = np.zeros(N), np.zeros(N, dtype=np.int64)
    env_steps = 0
    num_updates = math.ceil(total_steps / (N * T))
    for update in range(1, num_updates + 1):
        # --- 1. rollout: T steps of N envs with the current policy ----------------------------------------
        bufs = {k: [] for k in ("obs", "act", "logp", "val", "rew", "term", "trunc", "valid")}
        for t in range(T):
            actions, logp, values = agent.policy_step(obs)  # a ~ pi(.|s), log pi(a|s), V(s); no grad
            next_obs, rewards, terminated, truncated, _ = envs.step(actions.numpy())
            valid = ~prev_done  # after an episode end this step only resets the sub-env: leave it out
            done = terminated | truncated  # decides when an episode is over, never whether to bootstrap
            for k, x in zip(bufs, (obs, actions, logp, values, rewards, terminated, truncated, valid)):
                bufs[k].append(torch.as_tensor(x))
            env_steps += N
            ep_return += rewards * valid
            ep_length += valid
            for i in np.flatnonzero(done):
                history.add_episode(env_steps, float(ep_return[i]), int(ep_length[i]))
                ep_return[i], ep_length[i] = 0.0, 0
            prev_done = done
            obs = torch.tensor(next_obs, dtype=torch.float32)
        # V(s_T) for the bootstrap at the rollout's end. (policy_step also samples an action that is thrown away:
        # course_lib's collector does the same, so both consume torch's random numbers in the same order.)
        last_values = agent.policy_step(obs)[2]
        obs_r, act_r, logp_r, val_r = (torch.stack(bufs[k]) for k in ("obs", "act", "logp", "val"))
        rew_r, term_r, trunc_r = (torch.stack(bufs[k]).float() for k in ("rew", "term", "trunc"))
        valid_r = torch.stack(bufs["valid"])  # (T, N) bool

        # --- 2. GAE(gamma, lam), time-major (T, N) ---------------------------------------------------------
        # V(s_{t+1}) = the next row; on the autoreset step the stored value is V(final obs): the truncation bootstrap
        next_val = torch.cat([val_r[1:], last_values[None]])
        # delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
        delta = rew_r + cfg.gamma * next_val * (1.0 - term_r) - val_r
        not_done = 1.0 - torch.maximum(term_r, trunc_r)
        adv_r = torch.empty_like(rew_r)
        next_adv = torch.zeros(N)
        for t in reversed(range(T)):
            # A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
            next_adv = delta[t] + cfg.gamma * cfg.lam * not_done[t] * next_adv
            adv_r[t] = next_adv
        # R_t = A_t + V_old(s_t), the critic's target
        ret_r = adv_r + val_r

        # --- 3. the valid steps as one flat batch of B samples (time-major order) ---------------------------
        b_obs, b_act, b_logp_old, b_v_old, b_adv, b_ret = (
            x[valid_r] for x in (obs_r, act_r, logp_r, val_r, adv_r, ret_r))
        B = len(b_obs)

        # --- 4. annealing: lr_k = frac * lr_0, eps_k = frac * eps_0, frac from 1 down to 1/num_updates ------
        frac = 1.0 - (update - 1) / num_updates
        lr = cfg.learning_rate * frac if cfg.anneal_lr else cfg.learning_rate
        for group in optimizer.param_groups:
            group["lr"] = lr
        clip_eps = cfg.clip_eps * frac if cfg.anneal_clip else cfg.clip_eps

        # --- 5. K epochs of shuffled minibatches ----------------------------------------------------------
        sums = dict.fromkeys(("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"), 0.0)
        steps_taken, stop = 0, False
        for epoch in range(cfg.update_epochs):
            order = torch.randperm(B) if cfg.shuffle else torch.arange(B)
            for idx in torch.tensor_split(order, cfg.num_minibatches):
                dist, v = agent.distribution_and_value(b_obs[idx])
                logp = agent.actor.log_prob(dist, b_act[idx])
                adv = b_adv[idx]
                if cfg.norm_adv:
                    # A <- (A - mean A) / (std A + 1e-8), per minibatch (population std)
                    mu = adv.mean()
                    adv = (adv - mu) / (torch.sqrt(((adv - mu) ** 2).mean()) + 1e-8)
                # r = pi_theta(a|s) / pi_old(a|s) = exp(logp - logp_old)
                log_r = logp - b_logp_old[idx]
                ratio = torch.exp(log_r)
                # approx KL(pi_old || pi_theta), k3 estimator: E[(r - 1) - log r]
                lr_d = log_r.detach()
                approx_kl = (torch.expm1(lr_d) - lr_d).clamp_min(0.0).mean().item()
                if cfg.target_kl is not None and approx_kl > cfg.target_kl:
                    stop = True  # the policy has left the trust region: no more steps on this rollout
                    break
                # L_clip = E[min(r A, clip(r, 1 - eps, 1 + eps) A)]
                l_clip = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()
                # L_vf = 0.5 E[(V - R)^2]; clipped: 0.5 E[max((V - R)^2, (V_clip - R)^2)],
                # V_clip = V_old + clip(V - V_old, -eps, eps)
                sq = (v - b_ret[idx]) ** 2
                if cfg.clip_vloss:
                    v_clip = b_v_old[idx] + torch.clamp(v - b_v_old[idx], -clip_eps, clip_eps)
                    sq = torch.maximum(sq, (v_clip - b_ret[idx]) ** 2)
                l_vf = 0.5 * sq.mean()
                # H = E[entropy of pi(.|s)]
                entropy = agent.actor.entropy(dist).mean()
                # loss = -L_clip + c1 L_vf - c2 H: one loss, one optimiser, one backward pass
                loss = -l_clip + cfg.vf_coef * l_vf - cfg.ent_coef * entropy
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.max_grad_norm is not None:
                    # g <- g * min(1, c / ||g||), all parameters together
                    nn.utils.clip_grad_norm_(params, cfg.max_grad_norm, foreach=True)
                optimizer.step()
                steps_taken += 1
                clip_frac = ((ratio - 1).abs() > clip_eps).float().mean().item()
                for k, x in zip(sums, (-l_clip.item(), l_vf.item(), entropy.item(), approx_kl, clip_frac)):
                    sums[k] += x
            if stop:
                break

        # --- 6. diagnostics: means over the update's minibatch steps; EV = 1 - Var[R - V_old] / Var[R] -------
        ev = float(1.0 - torch.var(b_ret - b_v_old, unbiased=False) / torch.var(b_ret, unbiased=False))
        history.append(UpdateRow(
            env_steps=env_steps, episode_return_mean=history.recent_return_mean(20), explained_variance=ev,
            learning_rate=lr, clip_eps=clip_eps, epochs=steps_taken / cfg.num_minibatches,
            **{k: s / max(steps_taken, 1) for k, s in sums.items()}))
        if on_update is not None:
            on_update(history)
    envs.close()
    return agent, history


# %% [markdown]
# **Same seed, same numbers.** Three updates of the loop above against `course_lib.algos.ppo.train` with the same
# config and seed, and a second config that switches on four minibatches, value clipping and KL early stopping
# (with a `target_kl` small enough that it triggers). The rows must agree to the last printed digit and the final
# weights must be identical. (Explained variance is computed in float32 by both.)

# %%
# NBVAL_CHECK_OUTPUT
def compare_runs(cfg, seed, total_steps):
    """Run both implementations, print their update rows side by side (rounded) and the weight difference.

    Returns (largest |difference| of any update-row number, largest |weight difference|, same training episodes).
    """
    agent_a, hist_a = ppo_from_scratch(cfg, seed, total_steps)
    agent_b, hist_b = ppo.train(cfg, seed=seed, total_steps=total_steps, progress=False)
    fields = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance", "epochs")
    for k, (ra, rb) in enumerate(zip(hist_a.rows, hist_b.rows), start=1):
        a = "  ".join(f"{getattr(ra, f):.4f}" for f in fields)
        b = "  ".join(f"{getattr(rb, f):.4f}" for f in fields)
        print(f"update {k}  notebook: {a}\n          course_lib: {b}")
    diff = max((p - q).abs().max().item() for p, q in zip(agent_a.parameters(), agent_b.parameters()))
    print(f"  max |weight difference| = {diff:.1e}")
    row_diff = max(abs(getattr(ra, f) - getattr(rb, f)) for ra, rb in zip(hist_a.rows, hist_b.rows) for f in fields)
    same_eps = hist_a.episode_returns().tolist() == hist_b.episode_returns().tolist()
    return row_diff, diff, same_eps and len(hist_a.rows) == len(hist_b.rows)


print("columns: policy_loss value_loss entropy approx_kl clip_fraction explained_variance epochs")
same_default = compare_runs(ppo.PPOConfig(), seed=SEED, total_steps=3 * 256)
same_switches = compare_runs(ppo.PPOConfig(num_minibatches=4, clip_vloss=True, target_kl=0.003), seed=SEED,
                             total_steps=3 * 256)

# %% tags=["claim"] jupyter={"source_hidden": true}
import inspect

loop_lines = len(inspect.getsource(ppo_from_scratch).rstrip().splitlines())
claim("the whole PPO loop in one function: about 130 readable lines", 110 <= loop_lines <= 150,
      f"ppo_from_scratch has {loop_lines} lines including its docstring and comments")
claim("The rows must agree to the last printed digit and the final weights must be identical",
      all(row < 5e-5 and w == 0.0 and eps for row, w, eps in (same_default, same_switches)),
      f"(largest row difference, largest weight difference, same episodes): {same_default}, {same_switches}")

# %% [markdown]
# The `epochs` column of the second config shows the early stop: an update that ends before all
# `update_epochs` = 10 passes reports the fraction it completed (when `target_kl` was not reached the column reads
# 10). From here on the notebook uses its own loop for CartPole, knowing it is `course_lib`'s PPO.
#
# One more check of the Gymnasium 1.x API the loop relies on: `reset` returns a pair and `step` five
# values, so the old `state = env.reset()` silently stores a tuple and `a, b, c, d = env.step(x)` raises.

# %%
# NBVAL_CHECK_OUTPUT
env = make_env("CartPole-v1")
out_reset = env.reset(seed=0)
out_step = env.step(0)
print(f"reset() returns {type(out_reset).__name__} of {len(out_reset)}: (obs, info)")
print(f"step() returns {len(out_step)} values: (obs, reward, terminated, truncated, info)")
print(f"  -> terminated={out_step[2]}, truncated={out_step[3]}")
try:
    next_state, reward, done, info = env.step(0)
except ValueError as err:
    print("old 4-value unpacking:", err)
env.close()

# %% [markdown]
# ## 4. Experiments
#
# ### 4.1 CartPole-v1 to 500, with a live dashboard
#
# The run below trains the notebook's loop with `course_lib`'s CartPole defaults (printed in section 8: 8 envs x
# 32 steps, one full-batch minibatch per epoch, $\gamma = 0.98$, $\lambda = 0.8$, learning rate and clip range
# annealed linearly to 0) for 60k
# environment steps, redrawing the dashboard every 24 updates. What healthy looks like, panel by panel:
#
# | panel | healthy | warning sign |
# |---|---|---|
# | episode return (mean of last 20) | rises, reaches the 500 cap | flat for a long time; collapses after a peak |
# | value loss | grows while returns grow (targets get larger), then settles | explodes; stays huge while EV is near 0 |
# | entropy (nats) | starts at $\ln 2 \approx 0.69$, decreases slowly | drops to near 0 early (premature certainty) |
# | approx KL | around $10^{-3}$ to $2\cdot10^{-2}$ per update | regularly above ~0.05: steps too big |
# | clip fraction | a few percent to ~0.2 | very high *while $\epsilon$ is not tiny*: the policy runs away |
# | explained variance | climbs towards 1 | stays $\le 0$: the critic is useless, advantages are noise |
#
# With clip annealing, $\epsilon$ goes to 0 at the end of training, so a rising clip fraction in the last updates is
# expected and harmless (the learning rate is near 0 too).

# %%
class Dashboard:
    """Redraws six diagnostics of a History every ``every`` updates, in place (one figure output)."""

    PANELS = (("episode_return_mean", "episode return (last 20)", 500.0),
              ("value_loss", "value loss", None),
              ("entropy", "entropy (nats)", math.log(2)),
              ("approx_kl", "approx KL (k3)", 0.02),
              ("clip_fraction", "clip fraction", 0.2),
              ("explained_variance", "explained variance", 1.0))

    def __init__(self, every: int) -> None:
        self.every = every
        self.handle = display(widgets.HTML("training ..."), display_id=True)

    def draw(self, history: History):
        fig, axes = plt.subplots(2, 3, figsize=(10, 4.6), sharex=True)
        x = history.column("env_steps")
        for ax, (name, title, ref) in zip(axes.flat, self.PANELS):
            ax.plot(x, history.column(name), lw=1.2)
            if ref is not None:
                ax.axhline(ref, ls="--", lw=0.8, color="grey")  # reference line (see the table above)
            ax.set_title(title, fontsize=9)
        for ax in axes[1]:
            ax.set_xlabel("env steps")
        fig.tight_layout()
        plt.close(fig)
        fig.course_alt = (f"Training dashboard after {int(x[-1]):,} env steps: six panels, each a diagnostic "
                          "against env steps with a grey dashed reference line where the table above gives one")
        return fig

    def __call__(self, history: History) -> None:
        if len(history) % self.every == 0:
            self.handle.update(self.draw(history))


CARTPOLE_STEPS = 60_000
start = time.perf_counter()
dashboard = Dashboard(every=24)
cartpole_agent, cartpole_hist = ppo_from_scratch(ppo.PPOConfig(), SEED, CARTPOLE_STEPS, on_update=dashboard)
dashboard.handle.update(dashboard.draw(cartpole_hist))
cartpole_seconds = time.perf_counter() - start
print(f"trained {CARTPOLE_STEPS} steps with seed {SEED} in {cartpole_seconds:.0f} s")

# %%
cartpole_eval = evaluate(cartpole_agent, "CartPole-v1", n_episodes=20, deterministic=True, seed=EVAL_SEED)
rows = cartpole_hist.rows
print(f"training seed {SEED}; evaluation: 20 deterministic episodes from reset(seed={EVAL_SEED} + k)")
print(f"evaluation mean return = {cartpole_eval.mean:.1f} (min {cartpole_eval.returns.min():.0f})")
print(f"first update: entropy {rows[0].entropy:.3f}, explained variance {rows[0].explained_variance:.3f}")
print(f"last update: entropy {rows[-1].entropy:.3f}, explained variance {rows[-1].explained_variance:.3f}")
print(f"approx KL over training: median {np.median(cartpole_hist.column('approx_kl')):.4f}, "
      f"max {cartpole_hist.column('approx_kl').max():.4f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
cp_defaults = ppo.PPOConfig()
claim("course_lib's CartPole defaults: 8 envs x 32 steps, one full-batch minibatch per epoch, gamma = 0.98, "
      "lambda = 0.8, learning rate and clip range annealed linearly to 0",
      (cp_defaults.num_envs, cp_defaults.num_steps, cp_defaults.num_minibatches, cp_defaults.gamma, cp_defaults.lam,
       cp_defaults.anneal_lr, cp_defaults.anneal_clip) == (8, 32, 1, 0.98, 0.8, True, True), str(cp_defaults))
claim("train CartPole-v1 to a return of 500: every evaluation episode reaches the cap",
      bool(np.all(cartpole_eval.returns >= 500)), f"evaluation returns {cartpole_eval.returns}")
kl_median = float(np.median(cartpole_hist.column("approx_kl")))
claim("approx KL: around 1e-3 to 2e-2 per update (median over this run)", 1e-3 <= kl_median <= 2e-2,
      f"median {kl_median:.4f}")
claim("entropy starts at ln 2 ≈ 0.69 and decreases", abs(rows[0].entropy - math.log(2)) < 0.01
      and rows[-1].entropy < rows[0].entropy, f"first {rows[0].entropy:.3f}, last {rows[-1].entropy:.3f}")
claim("explained variance climbs towards 1", rows[-1].explained_variance > 0.5 > rows[0].explained_variance,
      f"first {rows[0].explained_variance:.3f}, last {rows[-1].explained_variance:.3f}")

# %% [markdown]
# **Before and after training.** Before training, the policy is close to a coin flip between the two pushes (its
# entropy starts at $\ln 2$, the third dashboard panel), and that is how the agent acts while it collects its first
# rollouts: it *samples* its actions. To pick a "before" episode honestly, the next cell plays 21 episodes of the
# freshly initialised agent (initialised with the training seed, as the run above was), episode $k$ starting from
# `reset(seed=EVAL_SEED + k)` with its action samples seeded by $k$, and animates the **median-length** one, not
# the shortest. The trained agent acts greedily (its most likely action), as in the evaluation above, from the
# same start state. Each caption gives the episode's return and number of steps, measured by the cell.

# %%
def sampled_episode(agent: ActorCriticAgent, seed: int, action_seed: int) -> tuple[float, int]:
    """(return, steps) of one CartPole episode from reset(seed=seed), actions sampled after
    torch.manual_seed(action_seed): the same calls as animate_episode(..., deterministic=False) makes."""
    torch.manual_seed(action_seed)
    env = make_env("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    ret, steps, done = 0.0, 0, False
    while not done:
        action = agent.act(obs[None], deterministic=False)[0]
        obs, reward, terminated, truncated, _ = env.step(action.item())
        ret, steps, done = ret + float(reward), steps + 1, terminated or truncated
    env.close()
    return ret, steps


torch.manual_seed(SEED)
cp_env = make_env("CartPole-v1")
untrained = ActorCriticAgent(AgentSpec.from_spaces(cp_env.observation_space, cp_env.action_space))
cp_env.close()
N_BEFORE = 21  # odd, so one episode has exactly the median length
before_runs = [sampled_episode(untrained, EVAL_SEED + k, action_seed=k) for k in range(N_BEFORE)]
before_lengths = np.array([steps for _, steps in before_runs])
k_before = int(np.argsort(before_lengths, kind="stable")[N_BEFORE // 2])  # the median-length episode
greedy_untrained = evaluate(untrained, "CartPole-v1", n_episodes=N_BEFORE, deterministic=True, seed=EVAL_SEED)
print(f"untrained agent, {N_BEFORE} episodes with sampled actions: {before_lengths.min()} to "
      f"{before_lengths.max()} steps, median {np.median(before_lengths):.0f}")
print(f"animated: episode k = {k_before} (median length), from reset(seed={EVAL_SEED + k_before})")
print(f"the same network acting greedily: median {np.median(greedy_untrained.lengths):.0f} steps")

torch.manual_seed(k_before)  # replay episode k_before's action samples
before_gif = animate_episode(untrained, "CartPole-v1", seed=EVAL_SEED + k_before, every=2, deterministic=False)
after_gif = animate_episode(cartpole_agent, "CartPole-v1", seed=EVAL_SEED + k_before, every=5, max_steps=500)
after_eval = evaluate(cartpole_agent, "CartPole-v1", n_episodes=1, deterministic=True, seed=EVAL_SEED + k_before)
shown = {"before training": before_runs[k_before],
         "after training": (float(after_eval.returns[0]), int(after_eval.lengths[0]))}
for label, gif in zip(shown, (before_gif, after_gif)):  # caption and alt text start with "before/after training"
    display(HTML(gif.data.replace('alt="', f'alt="{label}: ', 1).replace("<figcaption>", f"<figcaption>{label}: ", 1)))

# %% [markdown]
# Before training, the pole tips over within a few dozen steps; after training, the agent keeps it
# up for all 500 steps of the time limit. (Acting greedily, the *untrained* network happens to balance several
# times longer than it does by sampling: its most likely action is a fixed rule of the observation, and simple fixed
# rules already do well on CartPole. A greedy "before" would hide what training changed, so it is not shown.)

# %% tags=["claim"] jupyter={"source_hidden": true}
(before_return, before_steps), (after_return, after_steps) = shown.values()
claim("each animation shows the episode its caption describes (return and steps as measured)",
      f"return {before_return:.1f} in {before_steps} steps" in before_gif.data
      and f"return {after_return:.1f} in {after_steps} steps" in after_gif.data,
      f"captions: before {before_return:.1f} / {before_steps}, after {after_return:.1f} / {after_steps}")
claim("before training, the pole falls within a few dozen steps (the median-length sampled episode)",
      before_steps <= 60 and before_steps == int(np.median(before_lengths)),
      f"{before_steps} steps; sampled lengths {sorted(before_lengths.tolist())}")
claim("after training, the agent keeps it up for all 500 steps of the time limit", after_steps == 500,
      f"{after_steps} steps, return {after_return:.0f}")
greedy_median = float(np.median(greedy_untrained.lengths))
claim("acting greedily, the untrained network balances several times longer than it does by sampling",
      greedy_median >= 3 * float(np.median(before_lengths)),
      f"median length {greedy_median:.0f} greedy vs {np.median(before_lengths):.0f} sampled over {N_BEFORE} episodes")

# %% [markdown]
# ### 4.2 Continuous actions: Pendulum-v1 with a Gaussian policy
#
# For a `Box` action space the actor outputs a mean $\mu_\theta(s)$ and keeps a state-independent $\log\sigma$;
# the action is sampled from $\mathcal{N}(\mu, \sigma^2)$ and $\log\pi(a|s)$ sums over action dimensions. The
# sample can fall outside the torque bounds $[-2, 2]$. The rule: **clip the copy sent to the environment, store the
# raw sample** with its own log-probability; storing the clipped action makes $\log\pi$ and the ratio describe
# actions the policy never drew (exercise 07.store_unclipped). Pendulum never terminates; every episode is
# *truncated* after 200 steps, so bootstrapping at truncation is not optional here (exercise
# 07.truncation_bootstrap).
#
# Training `course_lib`'s PPO with `ppo.pendulum_config()` (4 envs x 256 steps, 10 epochs of 4 minibatches,
# $\gamma = 0.9$, reward scaling) for 100k steps takes longer than this notebook's budget on a shared 2-core
# machine, so `notebooks/scripts/nb07_pendulum.py` ran it once (seed 1) and saved the agent and its History
# (`notebooks/data/nb07_pendulum_agent.pt`, `nb07_pendulum.json`; `make data nb07_pendulum` regenerates them).
# Loading checks that the stored run was made with today's code and settings; the cell then re-runs the *first
# update* live and checks that it reproduces the stored one, evaluates the stored agent live (the bar used here: a
# mean return of at least −250 over 10 deterministic episodes) and animates it.

# %%
pend_stored = stored_results.load("nb07_pendulum")  # raises StaleResult if code or settings changed since
PENDULUM_SEED = pend_stored.config["seeds"][0]
pend_hist = History.from_dict(pend_stored.data["history"])
pend_agent = ActorCriticAgent.load(stored_results.data_path("nb07_pendulum_agent.pt"))
cfg_p = ppo.pendulum_config()
_, first = ppo.train(cfg_p, seed=PENDULUM_SEED, total_steps=cfg_p.batch_size, progress=False)
prefix_fields = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance")
stored_results.assert_same_prefix(pend_stored, [[getattr(r, f) for f in prefix_fields] for r in first.rows])
print("first update, stored vs live:")
for f in ("policy_loss", "value_loss", "entropy"):
    print(f"  {f:12s} {getattr(pend_hist.rows[0], f):.4f} / {getattr(first.rows[0], f):.4f}")
pend_eval = evaluate(pend_agent, "Pendulum-v1", n_episodes=10, deterministic=True, seed=EVAL_SEED)
pend_std = pend_agent.actor.log_std.exp().detach().numpy()
print(f"Pendulum-v1, training seed {PENDULUM_SEED}, {int(pend_hist.rows[-1].env_steps)} steps")
print(f"evaluation: 10 deterministic episodes from reset(seed={EVAL_SEED} + k)")
print(f"evaluation mean return = {pend_eval.mean:.1f} (worst {pend_eval.returns.min():.1f})")
print(f"policy std at the end: {pend_std.round(3)} "
      f"(started at exp(log_std_init) = {math.exp(cfg_p.log_std_init):.1f})")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Pendulum-v1 with a Gaussian policy: the stored agent reaches a mean evaluation return of at least -250",
      pend_eval.mean >= -250, f"mean {pend_eval.mean:.1f} over 10 episodes")
claim("the policy's standard deviation shrank during training", bool(np.all(pend_std < math.exp(cfg_p.log_std_init))),
      f"std {pend_std.round(3)}")

fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(pend_hist.column("env_steps"), pend_hist.column("episode_return_mean"))
ax.axhline(-250, ls="--", color="grey", lw=0.8)
ax.set_xlabel("env steps")
ax.set_ylabel("episode return (last 20)")
ax.set_title(f"Pendulum-v1, course_lib PPO (stored run, seed {PENDULUM_SEED})")
plots.show(fig, alt="Learning curve of the course's PPO on Pendulum-v1 (stored run), with a dashed line at a "
                    "return of -250.")
display(animate_episode(pend_agent, "Pendulum-v1", seed=EVAL_SEED, every=3))

# %% [markdown]
# ### 4.2b Bounded actions done right: clipping versus a tanh-squashed Gaussian
#
# Pendulum's torque must lie in $[-2, 2]$, and a Gaussian puts mass everywhere. Section 4.2 clips the copy sent to
# the environment. The other common answer **squashes** the sample into the box, as SAC does (Haarnoja et al.
# 2018, appendix C):
#
# $$u \sim \mathcal{N}(\mu_\theta(s), \sigma^2),\qquad a = a_{low} + (a_{high} - a_{low})\,\frac{\tanh(u) + 1}{2}.$$
#
# The environment now receives every action exactly as the policy drew it, but $\log\pi(a|s)$ is no longer the
# Gaussian's. A density is probability *per unit of $a$*, and the map stretches and squeezes: near the bounds a
# wide stretch of $u$ lands on a sliver of $a$. The change of variables, per action dimension $j$, gives
#
# $$\log\pi(a|s) = \sum_j \Big[\log\mathcal{N}(u_j; \mu_j, \sigma_j^2) - \log\big(1 - \tanh^2(u_j)\big)
#   - \log\tfrac{a_{high,j} - a_{low,j}}{2}\Big].$$
#
# In float32, $\tanh(u)$ rounds to 1 once $|u| > 9$ and $\log(1 - \tanh^2 u)$ becomes $-\infty$; the identity
# $\log(1 - \tanh^2 u) = 2(\log 2 - u - \mathrm{softplus}(-2u))$ is exact and finite everywhere.
# `course_lib.squashed.TanhGaussian` implements this (store $u$, not $a$: inverting $\tanh$ next to a bound is
# ill-conditioned). The figure compares, for one Gaussian on Pendulum's range, what the environment receives in
# three cases: clipping (a density inside plus two point masses on the bounds), squashing with the correction, and
# the squashed actions scored by the Gaussian density of $u$ alone (the correction forgotten). The printed
# integrals are checked in CI.

# %%
# NBVAL_CHECK_OUTPUT
from torch.distributions import Normal
from course_lib.squashed import TanhGaussian, log_one_minus_tanh_sq

LOW, HIGH = -2.0, 2.0  # Pendulum-v1's torque bounds
mu_d, sigma_d = 1.0, 1.0  # one Gaussian for u (or for the clipped action)
u_grid = torch.linspace(mu_d - 12 * sigma_d, mu_d + 12 * sigma_d, 200_001, dtype=torch.float64)
squashed = TanhGaussian(torch.full((1, 1), mu_d, dtype=torch.float64), torch.tensor([sigma_d], dtype=torch.float64),
                        LOW, HIGH)
a_grid = squashed.squash(u_grid[:, None])[:, 0]
inside = (a_grid > LOW) & (a_grid < HIGH)
a_in, u_in = a_grid[inside], u_grid[inside][:, None]
p_tanh = squashed.log_prob_u(u_in).exp()                   # with the change-of-variables term
p_no_jac = squashed.base.log_prob(u_in).sum(-1).exp()     # the Gaussian density of u, read as a's
gauss = Normal(torch.tensor(mu_d, dtype=torch.float64), torch.tensor(sigma_d, dtype=torch.float64))
mass_low, mass_high = gauss.cdf(torch.tensor(LOW)).item(), 1 - gauss.cdf(torch.tensor(HIGH)).item()
box = torch.linspace(LOW, HIGH, 20_001, dtype=torch.float64)
integral = {"clipped Gaussian (density inside + the two point masses)":
            torch.trapezoid(gauss.log_prob(box).exp(), box).item() + mass_low + mass_high,
            "tanh-squashed, with the correction": torch.trapezoid(p_tanh, a_in).item(),
            "tanh-squashed, correction forgotten": torch.trapezoid(p_no_jac, a_in).item()}
for name, value in integral.items():
    print(f"integral over [{LOW:g}, {HIGH:g}] of {name:56s} = {value:.4f}")
print(f"clipped Gaussian: P(a = {LOW:g}) = {mass_low:.4f}, P(a = {HIGH:g}) = {mass_high:.4f}")
ref_tanh = torch.distributions.TransformedDistribution(
    Normal(torch.tensor(mu_d), torch.tensor(sigma_d)),
    [torch.distributions.TanhTransform(), torch.distributions.AffineTransform(0.0, HIGH)])
u_check = torch.tensor([[-1.0], [0.0], [0.5], [2.0]])
logp_lib = TanhGaussian(torch.full((4, 1), mu_d), torch.tensor([sigma_d]), LOW, HIGH).log_prob_u(u_check)
logp_torch = ref_tanh.log_prob(HIGH * torch.tanh(u_check)).squeeze(-1)
print(f"log pi(a) at u = -1, 0, 0.5, 2: course_lib {logp_lib.numpy().round(4)}, torch {logp_torch.numpy().round(4)}")

# %%
fig, ax = plt.subplots(figsize=(8, 3.2))
ax.plot(box, gauss.log_prob(box).exp(), color=plots.PALETTE[0], label="clipped Gaussian: density inside")
ax.vlines([LOW, HIGH], 0, [mass_low, mass_high], color=plots.PALETTE[0], lw=4, alpha=0.6,
          label="clipped Gaussian: point masses on the bounds (height = probability)")
ax.plot(a_in, p_tanh, color=plots.PALETTE[1], label="tanh-squashed, with the correction")
ax.plot(a_in, p_no_jac, color=plots.PALETTE[3], ls="--", label="tanh-squashed, correction forgotten")
ax.set_xlabel("action a sent to the environment")
ax.set_ylabel("density")
ax.set_ylim(0, 1.05)
ax.set_title(f"What the environment receives from u ~ N({mu_d:g}, {sigma_d:g}^2) on [{LOW:g}, {HIGH:g}]", fontsize=9)
ax.legend(fontsize=7, loc="upper left")
plots.show(fig, alt="Densities of the action on Pendulum's range [-2, 2] from the same Gaussian: the clipped "
                    "Gaussian's bell curve with a tall bar of probability at the upper bound, the tanh-squashed "
                    "density rising towards the upper bound and falling to zero at it, and the uncorrected curve "
                    "(dashed), which is not a density: it integrates to less than one.")

# %% tags=["claim"] jupyter={"source_hidden": true}
tanh32 = torch.tanh(torch.tensor([8.5, 9.1, -9.1]))
claim("in float32, tanh(u) rounds to 1 once |u| > 9 and log(1 - tanh^2 u) becomes -inf; the identity stays finite",
      float(tanh32[0]) < 1 and float(tanh32[1]) == 1 and float(tanh32[2]) == -1
      and bool(torch.isinf(torch.log(1 - tanh32[1:] ** 2)).all())
      and bool(torch.isfinite(log_one_minus_tanh_sq(torch.tensor([9.1, -9.1, 50.0]))).all()),
      f"float32 tanh(8.5), tanh(9.1), tanh(-9.1) = {tanh32.tolist()}")
claim("the tanh-squashed density with the correction integrates to 1 over the box",
      abs(integral["tanh-squashed, with the correction"] - 1) < 1e-3,
      f"{integral['tanh-squashed, with the correction']:.5f}")
claim("the uncorrected curve is not a density: it integrates to less than one",
      integral["tanh-squashed, correction forgotten"] < 0.9, f"{integral['tanh-squashed, correction forgotten']:.4f}")
claim("clipping: a density inside plus two point masses, together probability 1",
      abs(integral["clipped Gaussian (density inside + the two point masses)"] - 1) < 1e-3 and mass_high > 0.1,
      f"total {integral['clipped Gaussian (density inside + the two point masses)']:.5f}, "
      f"P(a = high) = {mass_high:.4f}")
claim("course_lib.squashed.TanhGaussian agrees with torch's TransformedDistribution",
      bool(torch.allclose(logp_lib, logp_torch, atol=1e-4)), f"{logp_lib.numpy()} vs {logp_torch.numpy()}")

# %% [markdown]
# **Where the correction matters, and where it cancels.** The term $\log(1 - \tanh^2 u)$ depends only on the
# stored $u$, not on $\theta$. In PPO's ratio $\pi_\theta(a|s)/\pi_{old}(a|s)$ it appears in both and cancels, and
# so it does in the gradient of $\log\pi_\theta$: a PPO run without an entropy bonus is *the same run* with or
# without it (`tests/test_continuous_bandits.py` checks this). Everywhere the *number* $\log\pi$ is used, it does
# not cancel: the entropy $-\mathbb{E}[\log\pi(a|s)]$ (PPO's bonus, the dashboard's entropy panel), SAC's soft
# targets and temperature, a likelihood. Exercise 07.tanh_jacobian in section 7 is this bug.
#
# **Measured where the bound binds.** A one-step bandit (`course_lib.continuous_bandits`): actions in $[-1, 1]$,
# reward $r(a) = -(a - 1.5)^2$, so the best feasible action is the bound $a = 1$ (return $-0.25$). PPO's clipped
# loss with an entropy bonus ($c_2 = 0.01$) and normalised advantages trains three policies, each as 8 independent
# runs: (i) a Gaussian whose sample is clipped for the environment and stored unclipped (section 4.2's rule),
# (ii) the tanh-squashed Gaussian with the correction, (iii) the same without the correction. After 60
# iterations the best action moves *inside* the box, to $a^* = 0$, to measure what the drift towards the bound
# costs when the task changes (in an MDP: when the state changes where a saturated action is no longer right).

# %%
from course_lib.continuous_bandits import (BOUNDED_METHODS, BoundedConfig, ContextualConfig, optimal_sigmas,
                                            train_bounded, train_contextual)

start = time.perf_counter()
bcfg = BoundedConfig()
METHOD_LABELS = {"clipped": "(i) Gaussian, clipped for the env", "tanh": "(ii) tanh-squashed, with the correction",
                 "tanh_no_jacobian": "(iii) tanh-squashed, correction forgotten"}
bounded = {m: train_bounded(m, bcfg, seed=SEED) for m in tqdm(BOUNDED_METHODS, desc="bounded bandit")}
n_bandit_runs = bounded["clipped"].mu.shape[1]
at_switch, at_end = bcfg.switch_at - 1, bcfg.updates - 1
ret_switch = {m: bootstrap_ci(r.ret[at_switch]) for m, r in bounded.items()}
ret_end = {m: bootstrap_ci(r.ret[at_end]) for m, r in bounded.items()}
mu_switch = {m: bootstrap_ci(r.mu[at_switch]) for m, r in bounded.items()}
clip_frac = {m: bootstrap_ci(r.at_bound[at_switch - 9:at_switch + 1].mean(axis=0)) for m, r in bounded.items()}
print(f"{n_bandit_runs} runs per method (seed {SEED}); best return while the bound binds: "
      f"{-(bcfg.high - bcfg.target) ** 2:.2f}; mean and 95 % bootstrap CI over runs")
for m in BOUNDED_METHODS:
    r, e, mu_ci, cf = ret_switch[m], ret_end[m], mu_switch[m], clip_frac[m]
    print(f"{METHOD_LABELS[m]}\n  at iteration {bcfg.switch_at}: return {r.estimate:.3f} [{r.low:.3f}, {r.high:.3f}],"
          f" mu {mu_ci.estimate:.2f} [{mu_ci.low:.2f}, {mu_ci.high:.2f}], sigma "
          f"{bounded[m].sigma[at_switch].mean():.3f}, actions at a bound {cf.estimate:.3f}")
    print(f"  {bcfg.updates - bcfg.switch_at} iterations after a* moved to {bcfg.target_after:g}: "
          f"return {e.estimate:.3f} [{e.low:.3f}, {e.high:.3f}]")

# %%
iters = np.arange(1, bcfg.updates + 1)
fig, axes = plt.subplots(2, 2, figsize=(10, 5.6), sharex=True)
panels = (("ret", "expected return of the policy"), ("mu", "mean mu (of a if clipped, of u if squashed)"),
          ("sigma", "sigma (log scale)"), ("at_bound", "share of actions at a bound"))
for ax, (field, title) in zip(axes.flat, panels):
    for color, m in zip(plots.PALETTE, BOUNDED_METHODS):
        values = getattr(bounded[m], field).T  # (runs, iterations)
        ci = bootstrap_ci(values, n_resamples=1000)
        ls = "--" if m == "tanh_no_jacobian" else "-"
        ax.plot(iters, ci.estimate, color=color, ls=ls, label=METHOD_LABELS[m])
        ax.fill_between(iters, ci.low, ci.high, color=color, alpha=0.2, lw=0)
    ax.axvline(bcfg.switch_at, color="grey", ls=":", lw=1)
    ax.set_title(title, fontsize=9)
axes[0, 1].axhline(bcfg.high, color="black", lw=0.8, ls="--")
axes[0, 1].text(2, bcfg.high + 0.2, "upper bound of a", fontsize=7)
axes[1, 0].set_yscale("log")
axes[0, 0].legend(fontsize=7, loc="lower left")
fig.supxlabel("PPO iteration (dotted line: the best action moves from beyond the bound to a = 0)", fontsize=9)
fig.tight_layout()
plots.show(fig, alt="Four panels against PPO iterations for the three bounded-action policies, mean and 95% "
                    "CI over runs: all three reach the bound's return quickly; the clipped Gaussian's mean "
                    "climbs past the upper bound and the squashed policies' mean of u climbs to about 5; "
                    "nearly every action sits at a bound before the dotted switch; after the switch the "
                    "returns recover slowly or not at all.")
bandit_seconds = time.perf_counter() - start

# %% [markdown]
# What the runs show, method by method:
#
# - **All three learn the bound action.** While the best action lies beyond the bound, every method's return
#   reaches the best feasible $-0.25$; clipping the stored-unclipped Gaussian is a correct policy gradient (the
#   clip belongs to the environment), and so is squashing.
# - **The clipped Gaussian's mean leaves the box.** Samples above the bound all earn the bound's reward, so
#   nothing pulls $\mu$ back: it ends near 1.8 with the bound at 1, and almost every action is clipped. Its
#   Gaussian $\log\sigma$, and the entropy the loss sees, describe samples the environment never receives: it
#   receives a point mass at the bound.
# - **Squashing does not remove the drift; it moves it into $u$.** The squashed policies' $\mu$ climbs past 5,
#   where $1 - \tanh^2 u$ is below $10^{-3}$: the action is pinned at the bound just the same.
# - **The drift costs when the task changes.** After the best action moves to $a^* = 0$, a policy pinned at the
#   bound gets little or no signal: with the Gaussian clipped, every sample earns the same reward until the
#   entropy bonus widens $\sigma$ enough for some samples to fall inside (some runs come back, others do not
#   within the 40 iterations); with tanh, the signal is there but $\mu$ has far to travel back through the flat
#   tail, and no run recovers in time. Neither parameterisation protects against saturation by itself.
# - **Without the correction, the learning hardly changes here, but the entropy is wrong.** With $c_2 = 0.01$ and
#   normalised advantages, (ii) and (iii) train almost identically (the correction cancels in the ratio; only the
#   small entropy term differs). The cell below compares the entropy each version *reports* with the entropy of
#   the actions it actually plays.

# %% tags=["claim"] jupyter={"source_hidden": true}
best_bound = -(bcfg.high - bcfg.target) ** 2
claim("actions in [-1, 1], r(a) = -(a - 1.5)^2, c_2 = 0.01, 8 runs per method, 60 iterations, then a* = 0 for 40",
      (bcfg.low, bcfg.high, bcfg.target, bcfg.ent_coef, n_bandit_runs, bcfg.switch_at, bcfg.target_after,
       bcfg.updates - bcfg.switch_at) == (-1.0, 1.0, 1.5, 0.01, 8, 60, 0.0, 40), str(bcfg))
claim("every method's return reaches the best feasible -0.25 while the best action lies beyond the bound",
      all(ci.low > best_bound - 0.005 for ci in ret_switch.values()),
      "; ".join(f"{m}: {ci.estimate:.4f} [{ci.low:.4f}, {ci.high:.4f}]" for m, ci in ret_switch.items()))
claim("the clipped Gaussian's mean ends near 1.8 with the bound at 1, and almost every action is clipped",
      bool(np.all(bounded["clipped"].mu[at_switch] > bcfg.high + 0.5))
      and abs(mu_switch["clipped"].estimate - 1.8) < 0.2
      and clip_frac["clipped"].low > 0.97,
      f"mu {mu_switch['clipped'].estimate:.2f} [{mu_switch['clipped'].low:.2f}, {mu_switch['clipped'].high:.2f}], "
      f"clipped share {clip_frac['clipped'].estimate:.3f}")
sat = 1 - np.tanh(bounded["tanh"].mu[at_switch]) ** 2
claim("the squashed policies' mu climbs past 5, where 1 - tanh^2 u is below 1e-3",
      bool(np.all(bounded["tanh"].mu[at_switch] > 5) and np.all(bounded["tanh_no_jacobian"].mu[at_switch] > 5)
           and np.all(sat < 1e-3)) and clip_frac["tanh"].low > 0.97,
      f"mu (ii) {bounded['tanh'].mu[at_switch].round(2)}, (iii) {bounded['tanh_no_jacobian'].mu[at_switch].round(2)}; "
      f"max 1 - tanh^2 = {sat.max():.1e}")
recovered = {m: int((bounded[m].ret[at_end] > -0.5).sum()) for m in BOUNDED_METHODS}
claim("after the switch, with the Gaussian clipped, some runs come back and others do not; with tanh no run "
      "recovers in time", 0 < recovered["clipped"] < n_bandit_runs and recovered["tanh"] == 0
      and recovered["tanh_no_jacobian"] == 0 and ret_end["tanh"].high < -0.9,
      f"runs above a return of -0.5 at the end: {recovered}; "
      f"end returns (i) {bounded['clipped'].ret[at_end].round(2)}, "
      f"(ii) {bounded['tanh'].ret[at_end].round(2)}")
claim("(ii) and (iii) train almost identically here",
      float(np.abs(bounded["tanh"].mu - bounded["tanh_no_jacobian"].mu).max()) < 0.3
      and float(np.abs(bounded["tanh"].ret - bounded["tanh_no_jacobian"].ret).max()) < 0.02,
      f"largest gap in mu {np.abs(bounded['tanh'].mu - bounded['tanh_no_jacobian'].mu).max():.3f}, "
      f"in return {np.abs(bounded['tanh'].ret - bounded['tanh_no_jacobian'].ret).max():.4f}")

# %%
def entropies(method: str, runs) -> tuple[np.ndarray, np.ndarray]:
    """(entropy the method's loss sees, entropy of the squashed actions by sampling), per run, at the switch."""
    mu_t = torch.as_tensor(runs.mu[at_switch], dtype=torch.float64)[:, None, None].expand(-1, 20_000, 1)
    sd_t = torch.as_tensor(runs.sigma[at_switch], dtype=torch.float64)[:, None, None].expand(-1, 20_000, 1)
    dist = TanhGaussian(mu_t, sd_t, bcfg.low, bcfg.high)
    torch.manual_seed(0)
    true_h = dist.entropy_estimate().mean(dim=1).numpy()
    seen = true_h if method == "tanh" else dist.base.entropy().sum(-1).mean(dim=1).numpy()
    return seen, true_h


h_seen, h_true = {}, {}
for m in ("tanh", "tanh_no_jacobian"):
    h_seen[m], h_true[m] = entropies(m, bounded[m])
    print(f"{METHOD_LABELS[m]:42s} entropy the loss sees {h_seen[m].mean():6.2f} nats;"
          f" entropy of the actions played {h_true[m].mean():6.2f} nats")

# %% [markdown]
# With the correction, the entropy the loss sees *is* the entropy of the actions played, about $-11$ nats: the
# policy has become nearly deterministic at the bound, and the dashboard says so. Without it, the same policy
# reports about $-1.5$ nats (the entropy of $u$), as if it were still exploring. An entropy bonus or a target
# entropy (SAC's automatic temperature) built on that number regulates the wrong quantity. The clipped Gaussian
# has the same blind spot: its closed-form entropy is that of the Gaussian, while the environment receives a
# point mass at the bound.

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("with the correction, the entropy the loss sees is about -11 nats; without it, about -1.5 nats",
      abs(h_true["tanh"].mean() + 11) < 1.0 and abs(h_seen["tanh_no_jacobian"].mean() + 1.5) < 0.4
      and bool(np.all(h_seen["tanh_no_jacobian"] - h_true["tanh_no_jacobian"] > 5)),
      f"(ii) {h_seen['tanh'].mean():.2f}; (iii) reports {h_seen['tanh_no_jacobian'].mean():.2f} "
      f"while its actions have {h_true['tanh_no_jacobian'].mean():.2f}")

# %% [markdown]
# **State-dependent or state-independent $\log\sigma$?** `GaussianActor` keeps one learned $\log\sigma$ per
# action dimension for every state, as in the PPO paper's continuous-control experiments (Schulman et al. 2017)
# and Stable-Baselines3's PPO default; SAC (Haarnoja et al. 2018) uses a $\log\sigma$ *head* on the state,
# together with the tanh squashing. The difference shows when the right exploration width depends on the state.
# A two-context bandit: in context 0 the reward $-k_0(a - 0.5)^2$ is flat ($k_0 = 0.1$), in context 1
# $-k_1(a + 0.5)^2$ is sharply peaked ($k_1 = 10$). With an entropy bonus $c_2 = 0.2$, the best Gaussian has
# $\sigma_c^2 = c_2 / (2k_c)$, i.e. $\sigma = 1$ in the flat context and $0.1$ in the peaked one; one shared
# $\sigma$ is best at $\sigma^2 = c_2/(k_0 + k_1) \approx 0.14^2$. Both parameterisations are trained with PPO's
# loss (8 runs each, advantages not normalised so that $c_2$ keeps its units).

# %%
start = time.perf_counter()
ccfg = ContextualConfig()
sigma_best, sigma_shared = optimal_sigmas(ccfg)
contextual = {dep: train_contextual(dep, ccfg, seed=SEED) for dep in tqdm((True, False), desc="two contexts")}
last_sigma = {dep: r.sigma[-20:].mean(axis=0) for dep, r in contextual.items()}  # (runs, 2), last 20 iterations
sigma_ci = {dep: [bootstrap_ci(s[:, c]) for c in (0, 1)] for dep, s in last_sigma.items()}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
for ax, dep in zip(axes, (True, False)):
    for c, color in zip((0, 1), plots.PALETTE):
        ci = bootstrap_ci(contextual[dep].sigma[:, :, c].T, n_resamples=1000)
        steps = np.arange(1, ccfg.updates + 1)
        ax.plot(steps, ci.estimate, color=color, label=f"context {c} (k = {ccfg.curvature[c]:g})")
        ax.fill_between(steps, ci.low, ci.high, color=color, alpha=0.2, lw=0)
        ax.axhline(sigma_best[c], color=color, ls="--", lw=0.8)
    ax.axhline(sigma_shared, color="grey", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("PPO iteration")
    ax.set_title("log sigma from a head on the state" if dep else "one log sigma for all states", fontsize=9)
axes[0].plot([], [], color="grey", ls="--", lw=0.8, label="best sigma per context (same colour)")
axes[0].plot([], [], color="grey", ls=":", lw=1, label="best single shared sigma")
axes[0].set_ylabel("sigma")
axes[0].legend(fontsize=7, loc="center right")
plots.show(fig, alt="Sigma per context against PPO iterations, mean and 95% CI over runs, on a log scale: with "
                    "a log-sigma head the flat context's sigma rises to about 1 and the peaked context's falls to "
                    "about 0.1, each on its dashed optimum; with one shared log sigma both contexts sit on one "
                    "curve near the dotted shared optimum of 0.14.")
for dep, label in ((True, "head on the state"), (False, "one for all states")):
    print(f"log sigma {label:18s}: " + ", ".join(
        f"context {c}: sigma {ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}] (best {sigma_best[c]:.2f})"
        for c, ci in enumerate(sigma_ci[dep])))
contextual_seconds = time.perf_counter() - start

# %% tags=["claim"] jupyter={"source_hidden": true}
dep_ci, ind_ci = sigma_ci[True], sigma_ci[False]
claim("k_0 = 0.1, k_1 = 10, c_2 = 0.2: best sigma 1 and 0.1, shared 0.14; 8 runs each",
      ccfg.curvature == (0.1, 10.0) and ccfg.ent_coef == 0.2 and np.allclose(sigma_best, [1.0, 0.1])
      and round(sigma_shared, 2) == 0.14 and last_sigma[True].shape[0] == 8, f"{ccfg}")
claim("a log sigma head learns sigma about 1 in the flat context and about 0.1 in the peaked one",
      all(abs(ci.estimate / best - 1) < 0.15 for ci, best in zip(dep_ci, sigma_best)),
      f"{dep_ci[0].estimate:.3f} [{dep_ci[0].low:.3f}, {dep_ci[0].high:.3f}] and "
      f"{dep_ci[1].estimate:.3f} [{dep_ci[1].low:.3f}, {dep_ci[1].high:.3f}]")
claim("one shared log sigma sits near the shared optimum of 0.14 in both contexts",
      bool(np.all(last_sigma[False][:, 0] == last_sigma[False][:, 1])) and abs(ind_ci[0].estimate / sigma_shared - 1) < 0.15,
      f"{ind_ci[0].estimate:.3f} [{ind_ci[0].low:.3f}, {ind_ci[0].high:.3f}] vs {sigma_shared:.3f}")
too_narrow = sigma_best[0] / ind_ci[0].estimate
claim("the shared sigma is about seven times too narrow where the reward is flat and too wide where it is peaked",
      6 <= too_narrow <= 8 and ind_ci[1].low > sigma_best[1], f"{sigma_best[0]:.2f} / {ind_ci[0].estimate:.3f} = "
      f"{too_narrow:.1f}; peaked context: {ind_ci[1].estimate:.3f} vs best {sigma_best[1]:.2f}")
print(f"run time of this section's experiments: bandit {bandit_seconds:.1f} s, two contexts {contextual_seconds:.1f} s")

# %% [markdown]
# The shared $\sigma$ is about seven times too narrow where the reward is flat and too wide where it is peaked;
# the head gets both. **When each is used.** A state-independent $\log\sigma$ is the default of on-policy methods
# (the PPO and TRPO papers, Stable-Baselines3's and CleanRL's PPO): it cannot collapse in one region of the state
# space while staying wide elsewhere, and it is one less output to go wrong. SAC uses a state-dependent head with
# tanh squashing, and bounds $\log\sigma$ (Stable-Baselines3 clamps it to $[-20, 2]$) so that the head cannot run
# off. On Pendulum the useful width may well differ between swinging up and balancing, where a head *can* help;
# whether it does at a given budget is an experiment, not a rule.

# %% [markdown]
# ### 4.3 Which implementation details matter? An ablation
#
# Huang et al. (2022) list the details that make PPO work in practice. `course_lib`'s `PPOConfig` has a switch for
# each, so we can change **one** at a time and keep everything else. `notebooks/scripts/nb07_ablation.py` trains
# each variant on CartPole with several seeds and stores the learning curves in `notebooks/data/nb07_ablation.json`
# (`make data nb07_ablation` regenerates it; loading refuses a file made by other code or other settings). The
# budget is short on purpose: it separates *learning speed*. The base is `course_lib`'s CartPole defaults with a
# **constant** learning rate and clip range, because the defaults anneal both to 0 over the run, and over a short
# budget that stops learning early and would hide what the other details do; annealing is measured as a detail
# switched *on* instead.
#
# The figure summarises each variant by its return at the end of the budget (mean of the last 20 training
# episodes): the bar is the mean over seeds, the black line its 95 % bootstrap confidence interval, the dots the
# seeds. Why an interval rather than the min–max range of three seeds: RL results vary so much between seeds that
# conclusions drawn from a few of them often flip (Henderson et al. 2018); an interval of the mean (or of the
# interquartile mean) over enough seeds says how sure we can be, and two variants whose intervals overlap have not
# been told apart (Agarwal et al. 2021).

# %%
abl_stored = stored_results.load("nb07_ablation")  # raises StaleResult if code or settings changed since
abl_cfg = abl_stored.config
abl_labels = list(abl_cfg["variants"])
BASE_LABEL, SIMPLE_LABEL = abl_labels[0], abl_labels[-1]
ABL_SEEDS = abl_cfg["seeds"]
abl_curves: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
abl_seconds: dict[str, list[float]] = {}
for run in abl_stored.data["runs"]:
    y = np.array([np.nan if v is None else v for v in run["return_mean"]], dtype=float)
    abl_curves.setdefault(run["label"], []).append((np.array(run["env_steps"], dtype=float), y))
    abl_seconds.setdefault(run["label"], []).append(run["seconds"])


def stored_config(label: str) -> ppo.PPOConfig:
    """The exact PPOConfig the ablation script used for this variant (part of the stored config)."""
    d = dict(abl_cfg["variants"][label])
    return ppo.PPOConfig(**{**d, "hidden": tuple(d["hidden"])})


final = {lab: np.array([c[1][-1] for c in abl_curves[lab]]) for lab in abl_labels}
auc = {lab: np.array([np.nanmean(c[1]) for c in abl_curves[lab]]) for lab in abl_labels}
final_ci = {lab: bootstrap_ci(final[lab]) for lab in abl_labels}
auc_ci = {lab: bootstrap_ci(auc[lab]) for lab in abl_labels}


def ci_str(ci) -> str:
    return f"{ci.estimate:.1f} [{ci.low:.1f}, {ci.high:.1f}]"


def versus_base(ci: dict, lab: str) -> str:
    """'below' / 'above' the base if the two 95 % CIs do not overlap, else 'overlaps'."""
    if lab == BASE_LABEL:
        return "-"
    if ci[lab].high < ci[BASE_LABEL].low:
        return "below"
    if ci[lab].low > ci[BASE_LABEL].high:
        return "above"
    return "overlaps"


fig, ax = plt.subplots(figsize=(8, 4.4))
order = sorted(abl_labels, key=lambda lab: final[lab].mean())
for i, lab in enumerate(order):
    v, ci = final[lab], final_ci[lab]
    color = plots.PALETTE[0] if lab == BASE_LABEL else plots.PALETTE[1]
    ax.barh(i, ci.estimate, color=color, alpha=0.6)
    ax.plot([ci.low, ci.high], [i, i], color="black", lw=1.6)
    ax.plot(v, [i] * len(v), "o", color="black", ms=2.5, alpha=0.6)
ax.axvspan(final_ci[BASE_LABEL].low, final_ci[BASE_LABEL].high, color=plots.PALETTE[0], alpha=0.12, lw=0)
ax.set_yticks(range(len(order)), order)
ax.set_xlabel(f"return after {abl_cfg['budget'] // 1000}k steps (mean of last 20 episodes)")
ax.set_title(f"Ablation on CartPole-v1, one detail changed at a time: mean and 95 % bootstrap CI over "
             f"{len(ABL_SEEDS)} seeds", fontsize=9)
plots.show(fig, alt="Horizontal bars of the return after the budget for each ablation variant on "
                    "CartPole-v1, sorted from lowest to highest; the full setup in blue with its 95% CI "
                    "shaded across the chart; black lines are each variant's 95% CI and dots its seeds.")
base_cfg = stored_config(BASE_LABEL)
print(f"base = PPOConfig defaults (update_epochs={base_cfg.update_epochs}, learning_rate={base_cfg.learning_rate})")
print(f"  with {abl_cfg['base']}; seeds {ABL_SEEDS}")
print(f"{'variant':29s} {'final return [95% CI]':24s} vs base   {'mean over training [95% CI]':23s} vs base")
for lab in abl_labels:
    f, a = final_ci[lab], auc_ci[lab]
    print(f"{lab:29s} {f.estimate:6.1f} [{f.low:5.1f}, {f.high:5.1f}]    {versus_base(final_ci, lab):8s} "
          f"{a.estimate:6.1f} [{a.low:5.1f}, {a.high:5.1f}]     {versus_base(auc_ci, lab)}")

# %%
def listed(labels) -> str:
    return ", ".join(f"*{lab}*" for lab in labels) or "none"


sides = {side: [lab for lab in abl_labels[1:] if versus_base(final_ci, lab) == side]
         for side in ("below", "above", "overlaps")}
display(Markdown(
    f"**What the {len(ABL_SEEDS)} seeds can tell apart.** At the end of the {abl_cfg['budget'] // 1000}k-step "
    f"budget, the 95 % CIs put these variants below the base: {listed(sides['below'])}; above it: "
    f"{listed(sides['above'])}. The CIs of {listed(sides['overlaps'])} overlap the base's: with these seeds "
    f"we cannot say that those details change the final return at this budget (which is not the same as "
    f"showing that they do not matter)."))

# %% [markdown]
# Two details stand out. **Removing the clip** is the clearest loss: the unclipped surrogate's interval lies far
# below the base's, and on several seeds the policy collapses to returns near 10, about the shortest a CartPole
# episode can be (several epochs of unclipped steps on one batch destroy the policy, which is what the clip is for).
# **A shared trunk** also lands below the base, on both the final return and the mean over training, with
# intervals that do not overlap. Switching annealing on gives the highest mean final return, yet its interval
# overlaps the base's, so these seeds do not show that it helps at this budget.

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Removing the clip is the clearest loss: the unclipped surrogate's interval lies far below the base's",
      final_ci["unclipped surrogate"].high < final_ci[BASE_LABEL].low
      and final["unclipped surrogate"].mean() == min(v.mean() for v in final.values()),
      f"unclipped {ci_str(final_ci['unclipped surrogate'])}, base {ci_str(final_ci[BASE_LABEL])}")
claim("The stored runs use more seeds than the live cells", len(ABL_SEEDS) > len(SEEDS),
      f"stored ablation: {len(ABL_SEEDS)} seeds, live: {len(SEEDS)}")
claim("on several seeds the policy collapses to returns near 10", int((final["unclipped surrogate"] < 20).sum()) >= 2,
      f"final returns of the unclipped surrogate: {final['unclipped surrogate'].round(1)}")
claim("A shared trunk also lands below the base, on both the final return and the mean over training, with "
      "intervals that do not overlap", versus_base(final_ci, "+ shared network") == "below"
      and versus_base(auc_ci, "+ shared network") == "below",
      f"final {ci_str(final_ci['+ shared network'])} vs base {ci_str(final_ci[BASE_LABEL])}; mean over training "
      f"{ci_str(auc_ci['+ shared network'])} vs base {ci_str(auc_ci[BASE_LABEL])}")
claim("Switching annealing on gives the highest mean final return, yet its interval overlaps the base's",
      max(final, key=lambda lab: final[lab].mean()) == "+ lr / clip annealing"
      and versus_base(final_ci, "+ lr / clip annealing") == "overlaps",
      f"annealing {ci_str(final_ci['+ lr / clip annealing'])}, base {ci_str(final_ci[BASE_LABEL])}")

# %% [markdown]
# Read the table as "what does this detail buy on this task at this budget", not as a universal ranking:
# Andrychowicz et al. (2021) found that many choices matter differently across environments. Section 5 lets you
# overlay the learning curves of any variants.
#
# **A simple loop, measured.** The last variant is close to the loop of many tutorials: one environment, short
# rollouts, returns without GAE, every epoch on the full batch (an approximation: such loops often update once
# per episode). Its row above shows its return at the budget next to the base's. Its cost is the other half: the
# same number of environment steps needs eight times as many updates, none of which can step environments in
# parallel. The cell below times both configurations live, back to back, for the same 2,048 steps, and shows what
# the stored run measured.

# %%
timings = {lab: [] for lab in (BASE_LABEL, SIMPLE_LABEL)}
for _ in range(2):  # alternate, twice, and keep each one's faster run: less sensitive to a burst of load
    for lab in timings:
        t0 = time.perf_counter()
        ppo.train(stored_config(lab), seed=SEED, total_steps=2_048, progress=False)
        timings[lab].append(time.perf_counter() - t0)
timings = {lab: min(t) for lab, t in timings.items()}
for lab in timings:
    print(f"{lab:30s} 2048 steps in {timings[lab]:.2f} s (live); stored {abl_cfg['budget']}-step runs: median "
          f"{np.median(abl_seconds[lab]):.1f} s")
simple_ratio = timings[SIMPLE_LABEL] / timings[BASE_LABEL]
stored_ratio = np.median(abl_seconds[SIMPLE_LABEL]) / np.median(abl_seconds[BASE_LABEL])
loads = [x for r in abl_stored.data["runs"] for x in (r["load_before"], r["load_after"])]
print(f"wall-clock ratio simple loop / base: {simple_ratio:.1f}x live, {stored_ratio:.1f}x in the stored run")
print(f"  (1-minute load average during the stored run: {min(loads):.1f} to {max(loads):.1f} on "
      f"{abl_stored.data['cpu_count']} cores)")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("the same number of environment steps needs eight times as many updates",
      stored_config(BASE_LABEL).batch_size == 8 * stored_config(SIMPLE_LABEL).batch_size,
      f"env steps per update: base {stored_config(BASE_LABEL).batch_size}, simple loop "
      f"{stored_config(SIMPLE_LABEL).batch_size}")
claim("the same number of environment steps costs the simple loop more wall-clock time (live and stored)",
      simple_ratio > 1.5 and stored_ratio > 1.5, f"ratio {simple_ratio:.1f}x live, {stored_ratio:.1f}x stored")

# %% [markdown]
# **A live, smaller version.** The base has no schedule tied to the budget, so a shorter run is exactly the
# beginning of a longer one. The cell below re-runs the base and one changed detail (`LIVE_SWITCH`, set in the
# first cell) live for the first 6,144 steps with the first seeds of the stored run, and checks that the live
# curves reproduce the stored ones (and that the base's first updates match the stored prefix number for number).

# %%
LIVE_STEPS = 6_144
LIVE_LABELS = (BASE_LABEL, LIVE_SWITCH)
live_runs: dict[str, list[History]] = {lab: [] for lab in LIVE_LABELS}
with tqdm(total=len(LIVE_LABELS) * len(SEEDS), desc="live ablation") as bar:
    for lab in LIVE_LABELS:
        cfg = stored_config(lab)
        for s in SEEDS:
            live_runs[lab].append(ppo.train(cfg, seed=s, total_steps=LIVE_STEPS, progress=False)[1])
            bar.update(1)
ax = plots.learning_curves(live_runs, title=f"CartPole-v1, first {LIVE_STEPS} steps, seeds {SEEDS} (live)")
plots.show(ax.figure, alt=f"Learning curves of the first {LIVE_STEPS} steps on CartPole-v1 for the full setup "
                          "and one ablation, run live, mean and band over seeds.")
abl_prefix = abl_cfg["prefix"]
stored_results.assert_same_prefix(abl_stored, [[getattr(r, f) for f in abl_prefix["fields"]] for r in
                                               live_runs[BASE_LABEL][SEEDS.index(abl_prefix["seed"])]
                                               .rows[:abl_prefix["updates"]]])
live_vs_stored = {}
for lab in LIVE_LABELS:
    live_ret = np.array([h.rows[-1].episode_return_mean for h in live_runs[lab]])
    stored_at = np.array([np.interp(LIVE_STEPS, x, y) for x, y in abl_curves[lab][:len(SEEDS)]])
    live_vs_stored[lab] = float(np.abs(live_ret - stored_at).max())
    print(f"{lab:28s} return at {LIVE_STEPS} steps: live {plots.mean_and_spread(live_ret)}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("the live curves reproduce the stored ones", max(live_vs_stored.values()) < 0.01,
      f"largest |live - stored| return at {LIVE_STEPS} steps: {live_vs_stored}")
assert [r["seed"] for r in abl_stored.data["runs"] if r["label"] == BASE_LABEL][:len(SEEDS)] == list(SEEDS)

# %% [markdown]
# ### 4.4 Shared trunk and value clipping, measured
#
# Two choices that codebases make differently. **Shared network**: actor and critic share the hidden layers and
# only the heads differ; cheaper, and the critic's features can help the actor, but the two losses now fight over
# the same weights, which is where $c_1$ starts to matter (and with unnormalised CartPole returns of up to ~50
# the value loss is large). **Value clipping**: the clipped $L^{VF}$ of section 2. Both are in the ablation above;
# the numbers again, with their 95 % bootstrap CIs:

# %%
for lab in (BASE_LABEL, "+ shared network", "+ value clipping"):
    f, a = final_ci[lab], auc_ci[lab]
    print(f"{lab:28s} final {f.estimate:6.1f} [{f.low:5.1f}, {f.high:5.1f}]   "
          f"mean over training {a.estimate:6.1f} [{a.low:5.1f}, {a.high:5.1f}]")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("With a shared trunk both measures fall below the base's, with intervals that do not overlap",
      versus_base(final_ci, "+ shared network") == "below" and versus_base(auc_ci, "+ shared network") == "below",
      f"final {ci_str(final_ci['+ shared network'])}, over training {ci_str(auc_ci['+ shared network'])}")
claim("value clipping's intervals overlap the base's on both measures",
      versus_base(final_ci, "+ value clipping") == "overlaps" and versus_base(auc_ci, "+ value clipping") == "overlaps",
      f"final {ci_str(final_ci['+ value clipping'])}, over training {ci_str(auc_ci['+ value clipping'])}; base final "
      f"{ci_str(final_ci[BASE_LABEL])}, over training {ci_str(auc_ci[BASE_LABEL])}")

# %% [markdown]
# With a shared trunk both measures fall below the base's, with intervals that do not overlap: on this task, at
# this budget and with $c_1 = 0.5$, sharing costs more than it gives. Value clipping's intervals overlap the
# base's on both measures: these seeds show no effect either way. Set these few seeds on one short task against
# larger studies: Engstrom et al. (2020, "Implementation Matters in Deep Policy Gradients") found value clipping
# did not help and could hurt, and Andrychowicz et al. (2021, "What Matters in On-Policy Reinforcement Learning?")
# recommend against it; they also found separate actor and critic networks to work better on their
# continuous-control tasks. A handful of seeds on one task cannot settle such questions; they can tell you to
# measure before copying a default. That is also why `course_lib` keeps both off by default and exposes them as
# switches.
#
# ### 4.5 Bridge to production: Stable-Baselines3
#
# The same task in Stable-Baselines3 takes a few lines. Each library runs with **its own tuned CartPole
# settings**, not the same ones: SB3 with rl-baselines3-zoo's, `course_lib` with `PPOConfig`'s defaults. The
# table below is rendered from the settings stored with the comparison run (`notebooks/scripts/nb07_sb3_vs_course.py`,
# which reads SB3's defaults from a model SB3 builds), so it is the one place that says what each used. (Both
# bootstrap at CartPole's 500-step time limit, by different routes: the course through the next-step autoreset
# step, SB3 through `info["terminal_observation"]` of its own vector env.)

# %%
cmp_stored = stored_results.load("nb07_sb3_vs_course")  # raises StaleResult if code or settings changed since
cmp_cfg = cmp_stored.config
cc, zoo, sb3_defaults, sb3_pol = (cmp_cfg["course"], cmp_cfg["sb3"]["zoo"], cmp_cfg["sb3"]["defaults_kept"],
                                  cmp_cfg["sb3"]["policy"])


def schedule(start, annealed) -> str:
    return f"{start:g}, annealed linearly to 0" if annealed else f"{start:g}, constant"


course_batch = cc["num_envs"] * cc["num_steps"]
settings_rows = [
    ("environments x steps per update", f"{cc['num_envs']} x {cc['num_steps']}", f"{zoo['n_envs']} x {zoo['n_steps']}"),
    ("epochs per update", cc["update_epochs"], zoo["n_epochs"]),
    ("minibatch size", course_batch // cc["num_minibatches"], zoo["batch_size"]),
    ("learning rate", schedule(cc["learning_rate"], cc["anneal_lr"]),
     schedule(zoo["learning_rate"]["start"], zoo["learning_rate"]["schedule"] == "linear to 0")),
    ("clip range ε", schedule(cc["clip_eps"], cc["anneal_clip"]),
     schedule(zoo["clip_range"]["start"], zoo["clip_range"]["schedule"] == "linear to 0")),
    ("γ, GAE λ", f"{cc['gamma']}, {cc['lam']}", f"{zoo['gamma']}, {zoo['gae_lambda']}"),
    ("value coefficient c₁ (as set)", cc["vf_coef"], sb3_defaults["vf_coef"]),
    ("weight on the mean squared value error", cc["vf_coef"] * 0.5, sb3_defaults["vf_coef"]),
    ("entropy coefficient c₂", cc["ent_coef"], zoo["ent_coef"]),
    ("max gradient norm", cc["max_grad_norm"], sb3_defaults["max_grad_norm"]),
    ("advantage normalisation (per minibatch)", cc["norm_adv"], sb3_defaults["normalize_advantage"]),
    ("value clipping", cc["clip_vloss"], sb3_defaults["clip_range_vf"] is not None),
    ("KL early stopping (target_kl)", cc["target_kl"], sb3_defaults["target_kl"]),
    ("networks (actor / critic hidden layers)",
     "shared trunk" if cc["shared_network"] else f"separate, {cc['hidden']} / {cc['hidden']}, Tanh",
     f"separate, {sb3_pol['net_arch']['pi']} / {sb3_pol['net_arch']['vf']}, {sb3_pol['activation_fn']}"),
    ("orthogonal init", cc["ortho_init"], sb3_pol["ortho_init"]),
    ("Adam ε", cc["adam_eps"], sb3_pol["adam_eps"]),
    ("time-limit truncation", "bootstrapped with γ V(final observation)", "bootstrapped with γ V(final observation)"),
]
display(Markdown("| setting | course_lib (`PPOConfig()`) | Stable-Baselines3 " + cmp_cfg["sb3"]["version"]
                 + " (zoo + SB3 defaults) |\n|---|---|---|\n"
                 + "\n".join(f"| {name} | {a} | {b} |" for name, a, b in settings_rows)))
differ = [name for name, a, b in settings_rows if str(a) != str(b)]
print("settings that differ:", "; ".join(differ))

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("Each library runs with its own tuned CartPole settings, not the same ones", len(differ) > 0,
      f"{len(differ)} settings differ: {differ}")
claim("SB3's default vf_coef = 0.5 is c_1 = 1 in ours (its value loss has no 1/2)",
      sb3_defaults["vf_coef"] == 0.5 and "no 1/2" in cmp_cfg["sb3"]["value_loss"], cmp_cfg["sb3"]["value_loss"])

# %% [markdown]
# The cell below runs both for a short budget live, each with the settings of the table, and evaluates them with
# the same `evaluate` (a few thousand steps: far from solved, this only shows the API).

# %%
SB3_LIVE_STEPS = 4_096
t0 = time.perf_counter()
sb3_env = sb3_make_vec_env(cmp_cfg["env_id"], n_envs=zoo["n_envs"], seed=SEED)
sb3_model = SB3PPO("MlpPolicy", sb3_env, n_steps=zoo["n_steps"], batch_size=zoo["batch_size"],
                   n_epochs=zoo["n_epochs"], gamma=zoo["gamma"], gae_lambda=zoo["gae_lambda"], ent_coef=zoo["ent_coef"],
                   learning_rate=lambda p: zoo["learning_rate"]["start"] * p,
                   clip_range=lambda p: zoo["clip_range"]["start"] * p, seed=SEED, device="cpu")
sb3_model.learn(SB3_LIVE_STEPS)
sb3_seconds = time.perf_counter() - t0
t0 = time.perf_counter()
course_agent, _ = ppo.train(ppo.PPOConfig(**{**cc, "hidden": tuple(cc["hidden"])}), seed=SEED,
                            total_steps=SB3_LIVE_STEPS, progress=False)
course_seconds = time.perf_counter() - t0


class SB3Policy:
    """An SB3 model behind course_lib's act(obs, deterministic), so both go through the same evaluate()."""

    def __init__(self, model) -> None:
        self.model = model

    def act(self, obs, deterministic=True):
        return self.model.predict(obs, deterministic=deterministic)[0]


for name, pol, secs in (("SB3", SB3Policy(sb3_model), sb3_seconds), ("course_lib", course_agent, course_seconds)):
    ev = evaluate(pol, "CartPole-v1", n_episodes=10, seed=EVAL_SEED)
    print(f"{name:10s} {SB3_LIVE_STEPS} steps in {secs:.1f} s (live, this machine's current load); "
          f"evaluation mean {ev.mean:.1f}")

# %% [markdown]
# The full comparison trained both for the same budget with the same seeds, alternating the two libraries so that
# changes in machine load hit both (stored in `notebooks/data/nb07_sb3_vs_course.json`; `make data
# nb07_sb3_vs_course` regenerates it). Curves: mean return of the last 20 training episodes, mean over seeds with
# its 95 % bootstrap CI.

# %%
def rolling_curve(steps, returns, window=20):
    """(env steps, mean of the last `window` episode returns) at each finished episode."""
    r = np.asarray(returns, dtype=float)
    c = np.cumsum(np.insert(r, 0, 0.0))
    k = np.arange(1, len(r) + 1)
    lo = np.maximum(0, k - window)
    return np.asarray(steps, dtype=float), (c[k] - c[lo]) / (k - lo)


CMP_SEEDS = cmp_cfg["seeds"]
LIBS = (("course", "course_lib PPO"), ("sb3", "Stable-Baselines3 PPO"))
cmp_runs = {lib: [cmp_stored.data[lib][str(s)] for s in CMP_SEEDS] for lib, _ in LIBS}
fig, ax = plt.subplots(figsize=(7.5, 3.5))
for lib, label in LIBS:
    plots.plot_seeds(ax, [rolling_curve(r["episode_steps"], r["episode_returns"]) for r in cmp_runs[lib]], label)
ax.set_xlabel("env steps")
ax.set_ylabel("episode return (last 20)")
ax.set_title(f"CartPole-v1, each library's own tuned settings, {len(CMP_SEEDS)} seeds", fontsize=10)
ax.legend(fontsize=8)
plots.show(fig, alt="Learning curves on CartPole-v1 of the course's PPO and of Stable-Baselines3's PPO, each "
                    "with its own tuned settings.")
budget = cmp_cfg["budget"]
# steps-to-475 per seed; a seed that never reaches 475 counts as the whole budget (so the mean is a lower bound)
to475 = {lib: np.array([budget if r["steps_to_475"] is None else r["steps_to_475"] for r in cmp_runs[lib]], float)
         for lib, _ in LIBS}
never = {lib: sum(r["steps_to_475"] is None for r in cmp_runs[lib]) for lib, _ in LIBS}
evals = {lib: np.array([r["eval_mean"] for r in cmp_runs[lib]]) for lib, _ in LIBS}
secs = {lib: np.array([r["seconds"] for r in cmp_runs[lib]]) for lib, _ in LIBS}
to475_ci = {lib: bootstrap_ci(v) for lib, v in to475.items()}
for lib, label in LIBS:
    s = to475_ci[lib]
    print(f"{label}: steps to 475: mean {s.estimate / 1000:.1f}k [95% CI {s.low / 1000:.1f}k, "
          f"{s.high / 1000:.1f}k] ({never[lib]} of {len(CMP_SEEDS)} seeds never)")
    print(f"  evaluation after {budget // 1000}k: mean {evals[lib].mean():.1f}, worst seed "
          f"{evals[lib].min():.1f};  training time median {np.median(secs[lib]):.1f} s")
cmp_loads = [x for lib, _ in LIBS for r in cmp_runs[lib] for x in (r["load_before"], r["load_after"])]
print(f"1-minute load average during the stored run: {min(cmp_loads):.1f} to {max(cmp_loads):.1f} on "
      f"{cmp_stored.data['cpu_count']} cores")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("after the budget, both libraries' agents score at least 440 in evaluation on every seed, and the 500 cap on "
      "all seeds but at most one", all(evals[lib].min() >= 440 and (evals[lib] < 500).sum() <= 1 for lib, _ in LIBS),
      f"evaluation means course {evals['course'].round(1)}, SB3 {evals['sb3'].round(1)}")
overlap_475 = (to475_ci["course"].low <= to475_ci["sb3"].high) and (to475_ci["sb3"].low <= to475_ci["course"].high)
claim("both solve CartPole within the budget on most seeds (training return of the last 20 episodes reaches 475)",
      all(never[lib] <= len(CMP_SEEDS) // 4 for lib, _ in LIBS), f"seeds that never reach 475: {never}")
claim("the 95 % CIs of the mean steps-to-475 overlap: these seeds do not separate the two libraries' learning speed",
      overlap_475, f"course {ci_str(to475_ci['course'])}, SB3 {ci_str(to475_ci['sb3'])}")

# %% [markdown]
# Each with its own settings, the two implementations behave alike on this task: both solve CartPole within the
# budget on most seeds, and the intervals of their learning speed overlap, so these seeds do not say that one
# learns faster than the other.

# %%
max_load, cores = max(cmp_loads), cmp_stored.data["cpu_count"]
load_note = (f"were measured on a busy machine (the 1-minute load average reached {max_load:.1f} on {cores} cores, "
             f"so other jobs competed for the CPU)" if max_load > 0.5 * cores else
             f"were measured on a quiet machine (1-minute load average at most {max_load:.1f} on {cores} cores)")
display(Markdown(
    f"**Wall-clock.** The stored run records each run's training time and the machine's load around it (printed "
    f"above). These times {load_note}. Two more reasons not to read them as a verdict on the implementations: "
    f"the settings differ (SB3's zoo settings take {zoo['n_epochs']} epochs per update, the course's "
    f"{cc['update_epochs']}, so SB3 does more gradient steps on the same data), and a shared machine's load "
    f"changes from minute to minute. For a speed comparison, run `make bench` (`tests/benchmarks/bench_ppo.py`) "
    f"on a quiet machine. SB3 is the better choice for production work: callbacks, logging, saving, many "
    f"algorithms, tested at scale. What you gain from the course's version is that every line is visible, as in "
    f"section 3."))

# %% [markdown]
# ### 4.6 PPO for a language model, on a laptop
#
# RLHF fine-tunes a language model with PPO (Ziegler et al. 2019; Ouyang et al. 2022). In RL terms a sequence
# is an episode: the **state** is the prefix $y_{<t}$, the **action** is the next token $y_t$, the policy
# $\pi_\theta(y_t\mid y_{<t})$ is the model, and the reward $R(y)$ arrives once, after the last token (from a
# reward model trained on human preferences; here from a short program). Two ingredients are new compared with
# CartPole: a frozen **reference** $\pi_{ref}$ (the model before fine-tuning) and a **KL term** that keeps
# $\pi_\theta$ near it. The objective is
#
# $$\max_\theta\ \mathbb{E}_{y\sim\pi_\theta}[R(y)] - \beta\,\mathrm{KL}(\pi_\theta\,\|\,\pi_{ref}),\qquad
# \mathrm{KL}(\pi_\theta\,\|\,\pi_{ref}) = \sum_{t} \mathbb{E}_{y_{<t}\sim\pi_\theta}\Big[\mathrm{KL}\big(\pi_\theta(\cdot\mid y_{<t})\,\|\,\pi_{ref}(\cdot\mid y_{<t})\big)\Big].$$
#
# The second equation is the **chain rule** of the KL: the KL of whole sequences is the sum over positions of
# the expected per-token KL. Where the KL goes, two recipes:
#
# - **In the reward** (Ziegler et al. 2019; Ouyang et al. 2022), per token, with the **k1** estimate from the
#   sampled token: $r_t = -\beta\,k_{1,t} + [t = T-1]\,R(y)$, with
#   $k_{1,t} = \log\pi_\theta(y_t\mid y_{<t}) - \log\pi_{ref}(y_t\mid y_{<t})$.
#   The shaped rewards sum to $R(y) - \beta\sum_t k_{1,t}$, whose mean over $y\sim\pi_\theta$ is exactly the
#   objective; PPO then runs as usual (a critic $V(y_{<t})$, GAE with $\gamma = 1$).
# - **In the loss**, as GRPO does (Shao et al. 2024): add $\beta\,\hat{\mathbb{E}}_t[k_{3,t}]$ to PPO's loss with
#   the **k3** estimate $k_3 = (\rho - 1) - \log\rho$, $\rho = \pi_{ref}(y_t\mid y_{<t})/\pi_\theta(y_t\mid y_{<t})$
#   (Schulman 2020): never negative, usually of lower variance than k1.
#
# **GRPO** (Shao et al. 2024) also drops the critic: it samples a group of $G$ answers to the same prompt and
# gives every token of answer $i$ the advantage $A_i = (R_i - \mathrm{mean}_{group}R)/(\mathrm{std}_{group}R +
# \varepsilon)$. The group mean is a Monte Carlo estimate of the prompt's value, the baseline of notebook 03;
# $\varepsilon$ makes a group whose rewards are all equal give advantages 0 (no signal) instead of 0/0.
#
# **The toy.** A vocabulary of four tokens `a b c d`, sequences of $T = 8$ tokens from a BOS token, and a model
# that sees the previous two tokens and the position (an embedding and a small MLP: a neural 2-gram model,
# `course_lib.tiny_lm.TinyLM`). The reference is this model trained by maximum likelihood on 1,024 sequences of a
# Markov chain in which `b` rarely follows `a`. The reward counts the pattern `ab`: the reference earns little of
# it, and a single sequence, `abababab`, earns the most (4). Because the model sees only two tokens back, the
# exact KL between two models is a sum over 25 contexts per position (`tiny_lm.exact_kl`), so every estimate
# below is checked against the truth. The best any policy can do on the objective above has a closed form,
# $\pi^*(y) \propto \pi_{ref}(y)\,e^{R(y)/\beta}$ (`tiny_lm.kl_regularised_optimum` enumerates all $4^8$
# sequences): a reweighted reference, never a single sequence while $\beta > 0$.

# %%
import collections
import copy
import dataclasses

from course_lib import tiny_lm

LM_SPEC = tiny_lm.LMSpec(vocab=4, length=8, context=2)  # tokens a, b, c, d; 8 per sequence; sees 2 back
lm_gen = torch.Generator().manual_seed(0)
lm_corpus = tiny_lm.markov_corpus(1024, LM_SPEC.length, lm_gen)  # (1024, 8): the pretraining data
torch.manual_seed(0)
lm_ref = tiny_lm.TinyLM(LM_SPEC)
lm_nll = tiny_lm.pretrain(lm_ref, lm_corpus, steps=100, lr=2e-2)  # maximum likelihood, then frozen
lm_ref.eval()
lm_ref_samples = tiny_lm.sample(lm_ref, 4096, lm_gen)
lm_ref_reward = tiny_lm.count_pattern(lm_ref_samples).mean().item()
LM_BETA = 0.5
lm_opt_reward, lm_opt_kl = tiny_lm.kl_regularised_optimum(lm_ref, LM_BETA)
lm_p_best = tiny_lm.sequence_logp(lm_ref, torch.tensor([[0, 1] * 4])).exp().item()


def lm_ci(ci) -> str:
    """A bootstrap CI as 'estimate [low, high]' with two decimals."""
    return f"{ci.estimate:.2f} [{ci.low:.2f}, {ci.high:.2f}]"


def lm_text(tokens) -> list[str]:
    """Token ids (B, T) -> strings such as 'abacdbaa'."""
    return ["".join(tiny_lm.VOCAB[i] for i in y) for y in tokens.tolist()]


print(f"pretraining: {lm_nll[0]:.3f} -> {lm_nll[-1]:.3f} nats per token")
print("reference samples:", lm_text(lm_ref_samples[:6]))
print(f"reference: mean reward (count of 'ab') {lm_ref_reward:.2f}; P_ref(abababab) = {lm_p_best:.1e}")
print(f"best possible for beta = {LM_BETA}: E[R] = {lm_opt_reward:.2f} at KL = {lm_opt_kl:.2f} nats")

# %% [markdown]
# The three formulas of this section, written out on a few tensors and checked against `course_lib.tiny_lm`: the
# KL-shaped rewards for four sequences from a policy that has moved away from the reference (here: the reference
# with its preference for `a` and `b` raised), GRPO's advantages for two groups of four rewards, and the chain
# rule, the exact KL of whole sequences by enumerating all $4^8 = 65{,}536$ of them against the sum of the
# per-position KLs.

# %%
lm_moved = copy.deepcopy(lm_ref)  # a policy that has moved: it prefers a and b more than the reference does
with torch.no_grad():
    lm_moved.mlp[-1].bias.add_(torch.tensor([0.8, 0.8, -0.4, -0.4]))
ys = tiny_lm.sample(lm_moved, 4, torch.Generator().manual_seed(7))  # (4, 8) tokens drawn from the policy
ctx, pos = tiny_lm.contexts(ys, LM_SPEC)  # (4, 8, 2) previous two tokens (BOS = 4 before the start), (4, 8)
with torch.no_grad():
    # log pi(y_t | y_<t) and log pi_ref(y_t | y_<t) of the sampled tokens, (4, 8)
    logp_hand = torch.log_softmax(lm_moved(ctx, pos), -1).gather(-1, ys.unsqueeze(-1)).squeeze(-1)
    logp_ref_hand = torch.log_softmax(lm_ref(ctx, pos), -1).gather(-1, ys.unsqueeze(-1)).squeeze(-1)
R_hand = tiny_lm.count_pattern(ys)  # (4,) count of "ab"
# r_t = -beta * (log pi - log pi_ref), plus R(y) at the last token
r_hand = -LM_BETA * (logp_hand - logp_ref_hand)
r_hand[:, -1] += R_hand
r_lib = tiny_lm.shaped_rewards(logp_hand, logp_ref_hand, R_hand, LM_BETA)
print("sequences:", lm_text(ys), " R:", R_hand.tolist())
print("sum_t r_t:", r_hand.sum(1).numpy().round(4), " R - beta * sum_t k1_t:",
      (R_hand - LM_BETA * (logp_hand - logp_ref_hand).sum(1)).numpy().round(4))

R_groups = torch.tensor([[0.0, 1.0, 1.0, 2.0], [1.0, 1.0, 1.0, 1.0]])  # two groups of G = 4 samples
# A_i = (R_i - mean_group) / (std_group + eps): population std, eps = 1e-4
A_hand = (R_groups - R_groups.mean(1, keepdim=True)) / (R_groups.std(1, keepdim=True, correction=0) + 1e-4)
print("GRPO advantages:", A_hand.numpy().round(4))

lm_all = tiny_lm.enumerate_sequences(LM_SPEC)  # (65536, 8)
with torch.no_grad():
    lp_all, lq_all = tiny_lm.sequence_logp(lm_moved, lm_all), tiny_lm.sequence_logp(lm_ref, lm_all)
# KL(pi || pi_ref) = sum_y pi(y) (log pi(y) - log pi_ref(y)), over every sequence
kl_enum = float((lp_all.exp() * (lp_all - lq_all)).sum())
lm_ex = tiny_lm.exact_kl(lm_moved, lm_ref)
print(f"KL by enumeration {kl_enum:.5f}; sum over positions {lm_ex.kl:.5f} =",
      " + ".join(f"{k:.3f}" for k in lm_ex.kl_per_position.tolist()))

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("the shaped rewards, the group advantages and the exact KL written out agree with course_lib.tiny_lm",
      bool(torch.allclose(r_hand, r_lib) and torch.allclose(A_hand, tiny_lm.group_advantages(R_groups))
           and abs(kl_enum - lm_ex.kl) < 1e-4 * max(1.0, kl_enum)),
      f"max |r_hand - r_lib| {float((r_hand - r_lib).abs().max()):.1e}, KL enumeration {kl_enum:.5f} vs "
      f"forward pass {lm_ex.kl:.5f}")
claim("a group whose rewards are all equal gets advantages 0", bool((A_hand[1] == 0).all()), str(A_hand[1].tolist()))

# %% [markdown]
# Six fine-tuning recipes, each from a copy of the reference, on four seeds, with the same budget: 50 PPO updates
# of 64 fresh sequences (two epochs, clip 0.2, $\beta = 0.5$ unless switched off). Every update logs the batch's
# mean reward, the exact KL to the reference and its k1 and k3 estimates from the batch, the number of distinct
# sequences among the 64, the exact mean per-token entropy, and the variance of the advantages before
# normalisation (`tiny_lm.UpdateStats`).

# %%
LM_SEEDS = (1, 2, 3, 4)
LM_BASE = tiny_lm.FinetuneConfig(beta=LM_BETA, updates=50, epochs=2, minibatches=1, lr=1e-2)
LM_RUNS = {  # label -> config; only the named fields differ from LM_BASE
    "KL in reward, k1": LM_BASE,
    "no KL (beta = 0)": dataclasses.replace(LM_BASE, beta=0.0),
    "KL in reward, k3": dataclasses.replace(LM_BASE, estimator="k3"),
    "KL in loss, k1": dataclasses.replace(LM_BASE, kl_in="loss"),
    "KL in loss, k3": dataclasses.replace(LM_BASE, kl_in="loss", estimator="k3"),
    "GRPO: group baseline, KL in loss, k3": dataclasses.replace(LM_BASE, kl_in="loss", estimator="k3",
                                                                baseline="group"),
}
lm_stats: dict[str, list[list[tiny_lm.UpdateStats]]] = {}
lm_policies: dict[str, list[tiny_lm.TinyLM]] = {}
with tqdm(total=len(LM_RUNS) * len(LM_SEEDS), desc="fine-tuning runs") as bar:
    for lab, lm_cfg in LM_RUNS.items():
        lm_stats[lab], lm_policies[lab] = [], []
        for s in LM_SEEDS:
            pol, st = tiny_lm.finetune(lm_ref, lm_cfg, seed=s)
            lm_stats[lab].append(st)
            lm_policies[lab].append(pol)
            bar.update(1)


def lm_curves(lab: str, field: str, x_scale: int = 1):
    """One (x, y) curve per seed: update (times x_scale) -> the logged field."""
    return [(x_scale * np.arange(len(st)), np.array([getattr(r, field) for r in st], float))
            for st in lm_stats[lab]]


def lm_final(lab: str, field: str, last: int = 5) -> np.ndarray:
    """Per seed: the field averaged over the last `last` updates."""
    return np.array([np.mean([getattr(r, field) for r in st[-last:]]) for st in lm_stats[lab]])


def lm_mean(lab: str, field: str) -> np.ndarray:
    """Per seed: the field averaged over the whole run."""
    return np.array([np.mean([getattr(r, field) for r in st]) for st in lm_stats[lab]])


LM_MAIN, LM_NONE = "KL in reward, k1", "no KL (beta = 0)"
fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
for lab in (LM_MAIN, LM_NONE):
    for ax, field in zip(axes.flat, ("reward", "kl_exact", "distinct", "entropy")):
        plots.plot_seeds(ax, lm_curves(lab, field), lab)
plots.plot_seeds(axes[0, 1], lm_curves(LM_MAIN, "kl_k1"), "k1 estimate from the batch, KL in reward")
axes[0, 0].axhline(lm_opt_reward, ls=":", color="black", lw=1, label="best possible for beta = 0.5")
axes[0, 1].axhline(lm_opt_kl, ls=":", color="black", lw=1, label="KL of the best policy for beta = 0.5")
axes[0, 1].set_yscale("log")
for ax, label in zip(axes.flat, ("mean reward R (count of ab)", "KL(pi || pi_ref), nats (log scale)",
                                 "distinct sequences in the batch of 64", "entropy per token, nats")):
    ax.set_ylabel(label, fontsize=9)
    ax.legend(fontsize=7)
for ax in axes[1]:
    ax.set_xlabel("PPO update")
fig.suptitle(f"Fine-tuning with and without the KL penalty, {len(LM_SEEDS)} seeds", fontsize=10)
plots.show(fig, alt="Four panels against the PPO update, mean and 95 % CI band over four seeds, for fine-tuning "
                    "with the per-token KL penalty in the reward and without any KL term: mean reward, exact "
                    "KL to the reference (log scale, with the batch's k1 estimate), distinct sequences among 64, "
                    "and entropy per token. Dotted lines mark the best policy for beta = 0.5.")
for lab in (LM_MAIN, LM_NONE):
    print(f"{lab:18s} last 5 updates: reward {lm_ci(bootstrap_ci(lm_final(lab, 'reward')))}, "
          f"KL {lm_ci(bootstrap_ci(lm_final(lab, 'kl_exact')))} nats, "
          f"distinct {lm_final(lab, 'distinct').mean():.1f} of 64, "
          f"entropy {lm_final(lab, 'entropy').mean():.3f} nats per token")
print("no KL, each seed's most frequent sequence among 64 samples:",
      [collections.Counter(lm_text(tiny_lm.sample(p, 64, torch.Generator().manual_seed(0)))).most_common(1)[0]
       for p in lm_policies[LM_NONE]])

# %% tags=["claim"] jupyter={"source_hidden": true}
main_r, main_kl = bootstrap_ci(lm_final(LM_MAIN, "reward")), bootstrap_ci(lm_final(LM_MAIN, "kl_exact"))
none_kl = bootstrap_ci(lm_final(LM_NONE, "kl_exact"))
claim("with the penalty, the reward climbs from the reference's to near the best possible for beta = 0.5, and "
      "the KL ends near the best policy's",
      lm_final(LM_MAIN, "reward").min() > 3 * lm_ref_reward and main_r.high > 0.8 * lm_opt_reward
      and abs(main_kl.estimate - lm_opt_kl) < 0.3 * lm_opt_kl,
      f"reward {lm_ci(main_r)} (reference {lm_ref_reward:.2f}, best {lm_opt_reward:.2f}); KL {lm_ci(main_kl)} "
      f"(best policy's {lm_opt_kl:.2f})")
claim("the penalised runs keep nearly every sequence of the batch distinct and most of the entropy",
      bool(lm_final(LM_MAIN, "distinct").min() >= 60 and lm_final(LM_MAIN, "entropy").min() > 1.2),
      f"distinct {lm_final(LM_MAIN, 'distinct')}, entropy {lm_final(LM_MAIN, 'entropy').round(3)}")
claim("without a KL term every seed collapses onto abababab: one distinct sequence, entropy near 0, "
      "KL more than ten times the penalised run's",
      bool(lm_final(LM_NONE, "reward").min() > 3.9 and lm_final(LM_NONE, "distinct").max() < 2
           and lm_final(LM_NONE, "entropy").max() < 0.05 and none_kl.low > 10 * main_kl.high),
      f"reward {lm_final(LM_NONE, 'reward').round(2)}, distinct {lm_final(LM_NONE, 'distinct')}, entropy "
      f"{lm_final(LM_NONE, 'entropy').round(4)}, KL {lm_ci(none_kl)} vs {lm_ci(main_kl)}")

# %% [markdown]
# **(a) The penalty holds the policy near the reference while the reward climbs.** With the per-token KL in the
# reward, the reward climbs from the reference's to near the best possible for $\beta = 0.5$ (the dotted line),
# and the KL ends near the best policy's, where the gain in reward stops paying for more KL. The penalised runs
# keep nearly every sequence of the batch distinct and most of the entropy. The batch's k1 estimate follows the
# exact KL, noisily.
#
# **(b) Without it, reward hacking.** Without a KL term every seed collapses onto `abababab`: one distinct
# sequence, entropy near 0, KL more than ten times the penalised run's. The reward is at its maximum and the
# model has forgotten everything else it knew: here that is the point of the reward (the program asks for `ab`),
# but with a learned reward model the same mechanism finds whatever the model over-rates. The KL term is what
# keeps the optimum a reweighted reference, $\pi^*\propto\pi_{ref}e^{R/\beta}$, rather than the single
# highest-scoring string.
#
# **(c) k1 or k3, in the reward or in the loss.** First the estimators themselves, on the final penalised
# policies (exact KL near 1 nat) and on the collapsed ones (KL near 15 nats): 4,000 sequences each, the sum over
# tokens of k1 and of k3 per sequence, against the exact KL.

# %%
lm_est = {}  # (label, seed) -> (exact KL, per-sequence k1 sums, per-sequence k3 sums)
for lab in (LM_MAIN, LM_NONE):
    for s, pol in zip(LM_SEEDS, lm_policies[lab]):
        ys = tiny_lm.sample(pol, 4000, torch.Generator().manual_seed(100 + s))
        with torch.no_grad():
            lp, lq = tiny_lm.token_logp(pol, ys)[0], tiny_lm.token_logp(lm_ref, ys)[0]
        lm_est[lab, s] = (tiny_lm.exact_kl(pol, lm_ref).kl, tiny_lm.kl_estimate(lp, lq, "k1").sum(-1).numpy(),
                          tiny_lm.kl_estimate(lp, lq, "k3").sum(-1).numpy())
sd_ratio = np.array([lm_est[LM_MAIN, s][1].std() / lm_est[LM_MAIN, s][2].std() for s in LM_SEEDS])
# mean estimate minus exact KL, in standard errors of the mean
z_main = {k: np.array([(lm_est[LM_MAIN, s][i].mean() - lm_est[LM_MAIN, s][0])
                       / (lm_est[LM_MAIN, s][i].std() / math.sqrt(4000)) for s in LM_SEEDS])
          for i, k in ((1, "k1"), (2, "k3"))}
k3_collapsed = np.array([lm_est[LM_NONE, s][2].mean() / lm_est[LM_NONE, s][0] for s in LM_SEEDS])
for lab in (LM_MAIN, LM_NONE):
    for s in LM_SEEDS:
        ex, k1s, k3s = lm_est[lab, s]
        print(f"{lab:18s} seed {s}: exact {ex:6.3f}   k1 mean {k1s.mean():6.3f} (sd {k1s.std():6.2f})   "
              f"k3 mean {k3s.mean():6.3f} (sd {k3s.std():6.2f})")
lm_abab = torch.tensor([[0, 1] * 4])
with torch.no_grad():
    lp_ab = tiny_lm.token_logp(lm_policies[LM_NONE][0], lm_abab)[0]
    lq_ab = tiny_lm.token_logp(lm_ref, lm_abab)[0]
k1_ab, k3_ab = (tiny_lm.kl_estimate(lp_ab, lq_ab, k).sum().item() for k in ("k1", "k3"))
print(f"on 'abababab' from a collapsed policy: k1 sum {k1_ab:.2f}, k3 sum {k3_ab:.2f}")

LM_KL_LABELS = ("KL in reward, k1", "KL in reward, k3", "KL in loss, k1", "KL in loss, k3", LM_NONE)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
ex1, k1s, k3s = lm_est[LM_MAIN, LM_SEEDS[0]]
bins = np.linspace(-4, 8, 61)
axes[0].hist(np.clip(k1s, -4, 8), bins=bins, alpha=0.6, label=f"k1 sums (sd {k1s.std():.2f})")
axes[0].hist(np.clip(k3s, -4, 8), bins=bins, alpha=0.6, label=f"k3 sums (sd {k3s.std():.2f})")
axes[0].axvline(ex1, color="black", lw=1.2, label=f"exact KL {ex1:.2f}")
axes[0].set_xlabel("per-sequence estimate of KL, nats")
axes[0].set_ylabel("sequences")
axes[0].set_title(f"penalised policy, seed {LM_SEEDS[0]}", fontsize=9)
axes[0].legend(fontsize=7)
for i, (field, title) in enumerate((("kl_exact", "final KL(pi || pi_ref), nats (log)"),
                                    ("reward", "final mean reward"))):
    ax = axes[i + 1]
    for j, lab in enumerate(LM_KL_LABELS):
        c = bootstrap_ci(lm_final(lab, field))
        ax.errorbar([c.estimate], [j], xerr=[[c.estimate - c.low], [c.high - c.estimate]], fmt="o",
                    color=plots.PALETTE[j % len(plots.PALETTE)], capsize=3)
        ax.scatter(lm_final(lab, field), [j] * len(LM_SEEDS), s=10, color="grey", zorder=3)
    ax.set_yticks(range(len(LM_KL_LABELS)), LM_KL_LABELS if i == 0 else [""] * len(LM_KL_LABELS), fontsize=8)
    ax.set_title(title, fontsize=9)
axes[1].set_xscale("log")
axes[1].axvline(lm_opt_kl, ls=":", color="black", lw=1)
axes[2].axvline(lm_opt_reward, ls=":", color="black", lw=1)
fig.suptitle("k1 vs k3: the estimates (left) and where the KL term goes (mean, 95 % CI, grey: seeds)", fontsize=10)
fig.tight_layout()
plots.show(fig, alt="Left: histograms of per-sequence k1 and k3 estimates of the KL for a penalised policy, with "
                    "the exact KL as a vertical line; k3 is much narrower. Middle and right: final KL to the "
                    "reference (log scale) and final mean reward for the KL in the reward or in the loss, with "
                    "k1 or k3, and without KL, as means with 95 % CIs over four seeds; dotted lines mark the best "
                    "policy for beta = 0.5.")
for lab in LM_KL_LABELS:
    print(f"{lab:18s} final KL {lm_ci(bootstrap_ci(lm_final(lab, 'kl_exact')))}, reward "
          f"{lm_ci(bootstrap_ci(lm_final(lab, 'reward')))}, distinct {lm_final(lab, 'distinct').mean():.1f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
claim("near the reference both estimators are unbiased: their means lie within 4 standard errors of the exact KL",
      bool(np.abs(z_main["k1"]).max() < 4 and np.abs(z_main["k3"]).max() < 4),
      f"(mean - exact) / standard error: k1 {z_main['k1'].round(2)}, k3 {z_main['k3'].round(2)}")
claim("k3's spread is about a third of k1's (the standard deviation of k1 is at least twice k3's on every seed)",
      bool(sd_ratio.min() > 2), f"sd(k1) / sd(k3) per seed {sd_ratio.round(2)}")
claim("on the collapsed policies k3's sample mean falls well short of the exact KL (below 90 % of it on most "
      "seeds)", bool((k3_collapsed < 0.9).sum() >= len(LM_SEEDS) - 1),
      f"k3 mean / exact per seed {k3_collapsed.round(2)}")
kl_fin = {lab: bootstrap_ci(lm_final(lab, "kl_exact")) for lab in LM_KL_LABELS}
claim("On abababab itself, the k3 sum is little more than half the k1 sum; the penalty shrinks to about beta "
      "times the k3 sum, little more than the reward of 4 it protects",
      bool(0.45 < k3_ab / k1_ab < 0.65 and abs(LM_BETA * k3_ab - 4) < 0.5 < LM_BETA * k1_ab - 4),
      f"k1 sum {k1_ab:.2f}, k3 sum {k3_ab:.2f}: penalty beta * k3 = {LM_BETA * k3_ab:.2f} vs beta * k1 = "
      f"{LM_BETA * k1_ab:.2f}, reward 4")
claim("with k1 in the loss the policy collapses as if there were no KL term",
      bool(lm_final("KL in loss, k1", "distinct").max() < 2 and kl_fin["KL in loss, k1"].low > 10),
      f"KL {lm_ci(kl_fin['KL in loss, k1'])}, distinct {lm_final('KL in loss, k1', 'distinct')}")
claim("k3 in the reward lets most seeds collapse too",
      bool((lm_final("KL in reward, k3", "kl_exact") > 10).sum() >= len(LM_SEEDS) - 1),
      f"final KL per seed {lm_final('KL in reward, k3', 'kl_exact').round(2)}")
claim("k3 in the loss holds the KL, but at a KL well above the best policy's, with the reward correspondingly "
      "higher", bool(kl_fin["KL in loss, k3"].low > 1.5 * lm_opt_kl and kl_fin["KL in loss, k3"].high < 10
                     and lm_final("KL in loss, k3", "distinct").min() >= 60),
      f"KL {lm_ci(kl_fin['KL in loss, k3'])} (best policy's {lm_opt_kl:.2f}), reward "
      f"{lm_ci(bootstrap_ci(lm_final('KL in loss, k3', 'reward')))}")

# %% [markdown]
# Near the reference both estimators are unbiased: their means lie within 4 standard errors of the exact KL, and
# k3's spread is about a third of k1's (left panel), which is why it is the usual choice for *measuring* the KL
# (PPO's `approx_kl` is k3). Far from the reference the picture turns: on the collapsed policies k3's sample mean
# falls well short of the exact KL, because k3 keeps its mean only through rare tokens that $\pi_{ref}$ likes and
# $\pi_\theta$ almost never draws (huge $\rho$); a batch rarely contains them. On `abababab` itself, the k3 sum is
# little more than half the k1 sum.
#
# Where the estimate is used matters more than its variance:
#
# - **k1 in the reward** is the recipe whose expected update is the gradient of the objective: the policy-gradient
#   theorem turns the sampled value $\log\pi_\theta - \log\pi_{ref}$ into $\nabla\mathrm{KL}$, credit for a
#   token's effect on later tokens included (GAE spreads it).
# - **k1 in the loss** does nothing on average: differentiating $\hat{\mathbb{E}}[\log\pi_\theta(y)]$ at fixed
#   samples gives $\mathbb{E}_{\pi_\theta}[\nabla\log\pi_\theta] = 0$. With k1 in the loss the policy collapses as
#   if there were no KL term.
# - **k3 in the reward** has the right mean but, as just measured, its sampled values undercharge exactly the
#   sequences a collapsing policy produces: on `abababab` the penalty shrinks to about $\beta$ times the k3 sum,
#   little more than the reward of 4 it protects. k3 in the reward lets most seeds collapse too.
# - **k3 in the loss** (GRPO's choice) holds the KL, but at a KL well above the best policy's, with the reward
#   correspondingly higher: its gradient is a per-token pull towards $\pi_{ref}$, not the gradient of the sequence
#   KL, so "$\beta$" does not mean the same trade-off as in the reward recipe. Compare $\beta$ values only within
#   one recipe.
#
# **(d) GRPO's group baseline against a learned critic.** The two runs below differ only in the baseline: both put
# the KL in the loss with k3; one learns a critic $V(y_{<t})$ and uses GAE, GRPO uses the group's mean and
# standard deviation (here the prompt is the same BOS for every sample, so the 64 samples of an update form
# four groups of 16). The same budget of sequences for both; the right panel is the variance of the advantages
# before normalisation, per token, in reward units.

# %%
LM_CRITIC, LM_GRPO = "KL in loss, k3", "GRPO: group baseline, KL in loss, k3"
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for lab, name in ((LM_CRITIC, "learned critic + GAE"), (LM_GRPO, "GRPO: group mean and std")):
    plots.plot_seeds(axes[0], lm_curves(lab, "reward", LM_BASE.batch), name)
    plots.plot_seeds(axes[1], lm_curves(lab, "adv_var", LM_BASE.batch), name)
axes[0].set_ylabel("mean reward of the batch")
axes[1].set_ylabel("variance of raw advantages")
for ax in axes:
    ax.set_xlabel("sequences sampled")
    ax.legend(fontsize=7)
plots.show(fig, alt="Two panels against the number of sequences sampled, mean and 95 % CI over four seeds, for "
                    "PPO with a learned critic and for GRPO's group-relative baseline, both with the KL in the "
                    "loss (k3): the batch's mean reward, and the variance of the advantages before "
                    "normalisation.")
lm_d = {lab: {f: bootstrap_ci(lm_mean(lab, f)) for f in ("reward", "adv_var")} for lab in (LM_CRITIC, LM_GRPO)}
lm_obj = {lab: bootstrap_ci(lm_final(lab, "reward") - LM_BETA * lm_final(lab, "kl_exact"))
          for lab in (LM_MAIN, LM_CRITIC, LM_GRPO)}
for lab in (LM_CRITIC, LM_GRPO):
    print(f"{lab:38s} mean reward over training {lm_ci(lm_d[lab]['reward'])}, advantage variance "
          f"{lm_d[lab]['adv_var'].estimate:.3f} [{lm_d[lab]['adv_var'].low:.3f}, {lm_d[lab]['adv_var'].high:.3f}]")
for lab in (LM_MAIN, LM_CRITIC, LM_GRPO):
    o = lm_obj[lab]
    print(f"final E[R] - beta KL, {lab:38s} {o.estimate:.2f} [{o.low:.2f}, {o.high:.2f}]")
print(f"best possible E[R] - beta KL: {lm_opt_reward - LM_BETA * lm_opt_kl:.2f}")

# %% tags=["claim"] jupyter={"source_hidden": true}
crit, grpo = lm_d[LM_CRITIC], lm_d[LM_GRPO]
claim("the learned critic earns more reward over training than GRPO, with intervals that do not overlap",
      crit["reward"].low > grpo["reward"].high, f"critic {lm_ci(crit['reward'])}, GRPO {lm_ci(grpo['reward'])}")
claim("and its advantages have the lower variance", crit["adv_var"].high < grpo["adv_var"].low,
      f"critic {crit['adv_var'].estimate:.3f} [{crit['adv_var'].low:.3f}, {crit['adv_var'].high:.3f}], GRPO "
      f"{grpo['adv_var'].estimate:.3f} [{grpo['adv_var'].low:.3f}, {grpo['adv_var'].high:.3f}]")
lm_kl_d = {lab: bootstrap_ci(lm_final(lab, "kl_exact")) for lab in (LM_CRITIC, LM_GRPO)}
claim("But the critic run also ends further from the reference, and on the objective E[R] - beta KL GRPO ends "
      "higher", bool(lm_kl_d[LM_CRITIC].low > lm_kl_d[LM_GRPO].high and lm_obj[LM_GRPO].low > lm_obj[LM_CRITIC].high),
      f"KL critic {lm_ci(lm_kl_d[LM_CRITIC])}, GRPO {lm_ci(lm_kl_d[LM_GRPO])}; E[R] - beta KL critic "
      f"{lm_ci(lm_obj[LM_CRITIC])}, GRPO {lm_ci(lm_obj[LM_GRPO])}")
claim("the KL-in-reward run is the closest to the best possible, above both KL-in-loss runs",
      bool(lm_obj[LM_MAIN].low > max(lm_obj[LM_CRITIC].high, lm_obj[LM_GRPO].high)),
      f"{ {lab: round(o.estimate, 2) for lab, o in lm_obj.items()} }, best "
      f"{lm_opt_reward - LM_BETA * lm_opt_kl:.2f}")

# %% [markdown]
# Per sequence sampled, the learned critic earns more reward over training than GRPO, with intervals that do not
# overlap, and its advantages have the lower variance. That is notebook 03's lesson at the scale of tokens: the
# group mean is a baseline for the *prompt* and gives every token of a sample the same advantage, while the
# critic's $V(y_{<t})$ is a baseline for each *prefix*, so a token is judged against what was still possible
# after the tokens before it. But the critic run also ends further from the reference, and on the objective
# $\mathbb{E}[R] - \beta\,\mathrm{KL}$ GRPO ends higher: faster reward is not the same as a better trade-off, so
# neither baseline wins outright here. What GRPO is designed to save is memory: at LLM scale the critic is a
# second network about as large as the policy (Shao et al. 2024). And of the three, the KL-in-reward run is the
# closest to the best possible, above both KL-in-loss runs: the recipe of Ziegler et al. optimises the objective
# it states. Keep the scale in mind: a 25-context toy with a noiseless reward, four seeds and one $\beta$; real
# RLHF adds a learned reward model, long sequences and many prompts, where the numbers differ but the mechanisms
# shown here are the same.

# %% [markdown]
# ## 5. Explore: overlay the ablation's learning curves
#
# Pick variants (Ctrl/Cmd-click for several) and the band type (95 % bootstrap CI of the mean, or min–max over
# seeds); the plot redraws from the stored curves (no training happens).

# %%
def show_ablation(variants=(BASE_LABEL, "no orthogonal init"), band="ci"):
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for lab in variants:
        plots.plot_seeds(ax, abl_curves[lab], lab, band=band)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return (last 20)")
    ax.set_ylim(0, 510)
    ax.legend(fontsize=8, loc="upper left")
    plots.show(fig, alt="Explorer view: learning curves of the chosen ablation variants on CartPole-v1, mean "
                        f"and {plots.BAND_LABELS[band]} band over seeds.")
    for lab in variants:
        f = final_ci[lab]
        print(f"{lab:30s} final {f.estimate:.1f} [95% CI {f.low:.1f}, {f.high:.1f}] over {len(final[lab])} seeds")


widgets.interact(
    show_ablation,
    variants=widgets.SelectMultiple(options=abl_labels, value=(BASE_LABEL, "no orthogonal init"),
                                    rows=5, description="variants"),
    band=widgets.ToggleButtons(options=["ci", "minmax"], description="band"),
);

# %% [markdown]
# A second explorer for the maths: how the combined loss and its pieces respond to the coefficients on the toy
# batch of section 2 (nothing is trained; each move evaluates one formula).

# %%
def show_loss(c1=0.5, c2=0.01, clip_eps=0.2):
    lc = torch.minimum(ratio_toy * adv_toy, torch.clamp(ratio_toy, 1 - clip_eps, 1 + clip_eps) * adv_toy).mean()
    terms = {"-L_clip": -lc.item(), "c1 L_vf": c1 * l_vf.item(), "-c2 H": -c2 * ent_toy.mean().item()}
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.bar(list(terms), list(terms.values()), color=plots.PALETTE[:3])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_title(f"total loss = {sum(terms.values()):.4f}")
    plots.show(fig, alt="Bar chart of the three terms of PPO's loss on a toy batch, -L_clip, c1 L_vf and -c2 "
                        f"H, for c1 = {c1:g}, c2 = {c2:g}, epsilon = {clip_eps:g}; the title gives their sum.")


widgets.interact(show_loss, c1=widgets.FloatSlider(value=0.5, min=0.0, max=2.0, step=0.05),
                 c2=widgets.FloatSlider(value=0.01, min=0.0, max=0.5, step=0.01),
                 clip_eps=widgets.FloatSlider(value=0.2, min=0.02, max=0.5, step=0.02));

# %% [markdown]
# ## 6. Check your understanding
#
# Pick an answer and press Submit; the feedback explains each choice.

# %%
quiz.show("07.train_together")

# %%
quiz.show("07.why_clip_epochs")

# %%
quiz.show("07.total_loss")

# %%
quiz.show("07.truncated_td_error")

# %%
quiz.show("07.squashed_jacobian_where")

# %%
quiz.show("07.clipped_mean_drift")

# %%
quiz.show("07.squashed_log_density")

# %%
quiz.show("07.gymnasium_step")

# %%
quiz.show("07.next_step_autoreset")

# %%
quiz.show("07.value_clipping")

# %%
quiz.show("07.shared_network")

# %%
quiz.show("07.what_belongs_in_ppo")

# %%
quiz.show("07.kl_reward_hacking")

# %%
quiz.show("07.grpo_group_mean")

# %%
quiz.show("07.k1_in_loss")

# %% [markdown]
# **Graded answer cell.** If your course is graded, answers are read from cells like the one below (the first line
# names the question; the cell assigns `answer`). Replace `None` by your number and run it: `quiz.check` prints
# feedback. Left at `None`, `quiz.check` says that no number was given and records no attempt, so the cell earns
# no points.

# %%
# QUIZ: 07.truncated_td_error
answer = None  # your number, e.g. -48.0
quiz.check("07.truncated_td_error", answer)

# %%
quiz.score("07")

# %% [markdown]
# ## 7. Debug the bug
#
# ### Exercise 07.gymnasium_api: a rollout loop written for the old gym API
#
# This collection loop was written for `gym` before 0.26, and it shows: on a Gymnasium 1.x environment it fails
# at once, and even once it runs, the transitions it records and the episodes it plays need not be the ones its
# docstring promises. Port it to Gymnasium 1.x so that it matches its docstring line by line. The checker runs it
# on a strict fake environment (it raises if you step a finished episode) and compares every transition.

# %%
# EXERCISE: 07.gymnasium_api
from typing import NamedTuple

import numpy as np


class Transition(NamedTuple):
    obs: np.ndarray
    action: int
    reward: float
    terminated: bool
    truncated: bool
    next_obs: np.ndarray


def collect(env, policy, n_steps, seed):
    """Run `policy` in `env` for n_steps steps, starting new episodes as needed.

    env:     a Gymnasium 1.x environment: reset(seed=...) -> (obs, info);
             step(action) -> (obs, reward, terminated, truncated, info)
    policy:  function obs -> action
    n_steps: number of transitions to collect
    seed:    seed for the first reset only (later resets continue the env's random stream)
    returns: list of n_steps Transition; next_obs is what step() returned (the final obs at an episode end)
    """
    transitions = []
    obs = env.reset(seed=seed)
    for _ in range(n_steps):
        action = policy(obs)
        next_obs, reward, done, info = env.step(action)
        transitions.append(Transition(obs, action, reward, done, False, next_obs))
        obs = next_obs
        if done:
            obs = env.reset(seed=seed)
    return transitions

# %%
exercises.check("07.gymnasium_api", collect);

# %% [markdown]
# A FAIL is expected at first: it names the case that failed and what went wrong, not the fix. Edit the exercise
# cell, run it, and check again. Stuck? Run `exercises.hint("07.gymnasium_api")` in a new cell: each call reveals
# the next level of the hint (where to look, then the idea, then the fix). After at least one attempt,
# `exercises.solution("07.gymnasium_api")` shows a worked solution with an explanation.
#
# ### Exercise 07.truncation_bootstrap: TD targets at a time limit
#
# On Pendulum every episode ends by truncation after 200 steps. With the TD targets below, every 200th target
# claims that the state is worth only its one reward, as if the pendulum stopped existing when the clock ran out,
# and the critic learns a dip in value that no state deserves. Make the targets match the docstring for every
# kind of episode end (the checker includes a task with constant reward whose true value is known in closed form).

# %%
# EXERCISE: 07.truncation_bootstrap
import torch


def td_targets(reward, next_value, terminated, truncated, gamma):
    """One-step TD targets for the critic.

    reward:     (T,) rewards r_t (or (T, N) for N envs, likewise below)
    next_value: (T,) V(s_{t+1}) of the observation step() returned (at an episode end: the final observation)
    terminated: (T,) 1.0 where the task really ended at step t (no value after it), else 0.0
    truncated:  (T,) 1.0 where a time limit cut the episode at step t (the state still has a value), else 0.0
    gamma:      discount in [0, 1]
    returns:    (T,) targets y_t
    """
    done = torch.maximum(terminated, truncated)
    return reward + gamma * next_value * (1.0 - done)

# %%
exercises.check("07.truncation_bootstrap", td_targets);

# %% [markdown]
# A FAIL is expected at first. Run `exercises.hint("07.truncation_bootstrap")` in a new cell for the next level of
# the hint (call it again for the level after), and `exercises.solution("07.truncation_bootstrap")` after at
# least one attempt.
#
# ### Exercise 07.store_unclipped: a Gaussian policy near the action bounds
#
# For a Gaussian policy on a bounded action space, `act` returns what the rollout buffer stores and what is sent
# to the environment. When the means sit near the bounds, the stored actions pile up on the bounds, and the
# log-probabilities PPO's ratio is built from no longer describe the distribution the actions were drawn from.
# Make `act` return exactly what its docstring lists.

# %%
# EXERCISE: 07.store_unclipped
import torch
from torch.distributions import Normal


def act(mean, log_std, low, high):
    """Sample actions for a Box action space and return what the rollout needs.

    mean:      (B, act_dim) Gaussian means from the actor
    log_std:   (act_dim,) log standard deviations
    low, high: (act_dim,) the environment's action bounds
    returns:   action (B, act_dim): the sample as drawn, which the buffer stores;
               logp (B,): log pi(action | s), summed over action dimensions;
               env_action (B, act_dim): action clipped to [low, high], which is sent to env.step
    """
    dist = Normal(mean, log_std.exp())
    action = torch.clamp(dist.sample(), low, high)
    logp = dist.log_prob(action).sum(dim=-1)
    return action, logp, action

# %%
exercises.check("07.store_unclipped", act);

# %% [markdown]
# A FAIL is expected at first. Run `exercises.hint("07.store_unclipped")` in a new cell for the next level of the
# hint (several levels), and `exercises.solution("07.store_unclipped")` after at least one attempt: it also
# explains which log-probability belongs in the buffer.
#
# ### Exercise 07.tanh_jacobian: a squashed Gaussian scored like a plain one
#
# Section 4.2b squashes the Gaussian sample $u$ into the action bounds with $\tanh$. This function is meant to
# return the log-density of the *action* the environment receives, from the stored $u$, but it returns a number
# that is not the log of any density over the actions. The checker integrates your density over the action
# range, compares it at known points and pushes $u$ far into the flat tails of $\tanh$, where float32 rounding
# bites. Make `squashed_log_prob` return what its docstring promises.

# %%
# EXERCISE: 07.tanh_jacobian
import torch
from torch.distributions import Normal


def squashed_log_prob(u, mean, log_std, low, high):
    """log pi(a | s) of a tanh-squashed Gaussian policy, from the stored pre-squash sample.

    u:         (B, act_dim) pre-squash samples u ~ N(mean, exp(log_std)^2), as stored in the buffer
    mean:      (B, act_dim) Gaussian means from the actor
    log_std:   (act_dim,) log standard deviations
    low, high: (act_dim,) the action bounds; the environment receives
               a = low + (high - low) * (tanh(u) + 1) / 2
    returns:   logp (B,): the log-density of the action a (not of u), summed over action dimensions;
               finite and accurate in float32 for |u| up to 20
    """
    dist = Normal(mean, log_std.exp())
    return dist.log_prob(u).sum(dim=-1)

# %%
exercises.check("07.tanh_jacobian", squashed_log_prob);

# %% [markdown]
# A FAIL is expected at first. Run `exercises.hint("07.tanh_jacobian")` in a new cell for the next level of the
# hint, and `exercises.solution("07.tanh_jacobian")` after at least one attempt: it also says where the missing
# term matters in PPO and where it cancels.
#
# ### Exercise 07.kl_penalty: a language model's KL penalty on the wrong distribution
#
# These per-token rewards for fine-tuning a language model (section 4.6) were meant to charge the policy for
# leaving its reference. As written, on tokens the policy now prefers they pay it for leaving instead. Make the
# function return what its docstring defines; the checker scores tokens drawn from a policy under that policy and
# under a reference.

# %%
# EXERCISE: 07.kl_penalty
import torch


def shaped_rewards(logp, logp_ref, reward, beta):
    """Per-token rewards for PPO on a language model, with the KL penalty to the frozen reference.

    logp:     (B, T) log pi(y_t | y_<t) of the sampled tokens under the policy, which drew them
    logp_ref: (B, T) log pi_ref(y_t | y_<t) of the same tokens under the reference
    reward:   (B,) the sequence reward R(y), paid at the last token
    beta:     weight of the penalty, >= 0
    returns:  (B, T) r_t = -beta * kl_t, plus R(y) at t = T - 1, where kl_t is the single-sample
              (k1) estimate of the per-token KL(pi || pi_ref); summed over t it estimates the KL
              between the policy's and the reference's sequence distributions
    """
    kl = logp_ref - logp
    rewards = -beta * kl
    rewards[:, -1] += reward
    return rewards

# %%
exercises.check("07.kl_penalty", shaped_rewards);

# %% [markdown]
# A FAIL is expected at first. Run `exercises.hint("07.kl_penalty")` in a new cell for the next level of the hint,
# and `exercises.solution("07.kl_penalty")` after at least one attempt.
#
# ## 8. In practice
#
# **Starting points.** The settings used above, read from the configs themselves (tune per task: these are
# starting points, not laws):

# %%
cp_cfg, pd_cfg = ppo.PPOConfig(), ppo.pendulum_config()
for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches", "clip_eps", "anneal_clip", "gamma", "lam",
             "learning_rate", "anneal_lr", "vf_coef", "ent_coef", "max_grad_norm", "target_kl", "scale_reward"):
    print(f"{name:16s} CartPole {str(getattr(cp_cfg, name)):8s} Pendulum {getattr(pd_cfg, name)}")

# %% [markdown]
# | setting | what changing it does |
# |---|---|
# | `num_envs` x `num_steps` | bigger batches: less noisy advantages, fewer updates per step budget |
# | `update_epochs`, `num_minibatches` | more passes reuse data but push the ratio further (watch approx KL) |
# | `clip_eps` | smaller: more conservative steps; the ablation shows what removing the clip does |
# | `gamma`, `lam` | horizon of credit, and the bias-variance trade-off of GAE (notebook 03) |
# | `learning_rate`, annealing | annealing to 0 steadies the end of a run; what it does at a short budget is the ablation's "+ lr / clip annealing" row |
# | `vf_coef` $c_1$, `ent_coef` $c_2$ | $c_1$ matters with a shared trunk; $c_2 > 0$ for hard exploration. Our $L^{VF}$ has a $\tfrac12$: $c_1 = 0.5$ here is $0.25$ in the paper's and SB3's units |
# | `max_grad_norm` | guards against rare huge gradients (value-loss spikes); see its ablation row |
# | `target_kl` | e.g. 0.01–0.05 stops runaway updates; makes the effective number of epochs adaptive |
# | `scale_reward` | Pendulum's rewards reach -16 per step; scaling keeps the value loss in a sane range (notebook 06) |
#
# **Failure signs and first checks**
#
# - Return stuck near the random level, explained variance $\le 0$: check the value targets (termination vs
#   truncation), the sign of the loss, and that advantages are computed with `V_old`, not the updated critic.
# - Approx KL jumping above ~0.05 and the return collapsing: lower the learning rate or the epochs, or set
#   `target_kl`.
# - Entropy near 0 early: the policy stopped exploring; add a small `ent_coef` or lower the learning rate.
# - Continuous actions drifting to the bounds: look for clipped actions stored in the buffer. If the buffer is
#   right and the mean still sits beyond the bound (clipped) or $|u|$ keeps growing (tanh), the best action is at
#   the bound: harmless until it moves inside, then slow to undo (section 4.2b).
# - NaN losses: `course_lib` raises `FloatingPointError` naming the quantity; usually exploding value loss
#   (scale rewards, clip gradients).
# - Fine-tuning a language model: distinct samples per batch falling and the KL to the reference climbing to many
#   nats: the reward is being hacked; check that the KL term is charged (exercise 07.kl_penalty) and where it
#   goes (k1 in the reward, k3 in a loss), then raise $\beta$.
#
# > **Common misconception.** "Production tips" for PPO often recommend target networks and a replay buffer.
# >
# > What is true: those belong to off-policy methods (DQN, DDPG, SAC), which learn from old data. PPO is
# > on-policy: the ratio $\pi_\theta/\pi_{old}$ is only meaningful for data from $\pi_{old}$, and the loop of
# > section 3 throws each rollout away after its few epochs (the arrow "pi_old <- pi_theta; repeat" of the loop
# > figure in section 1); clipping is what makes those few epochs safe (Schulman et al. 2017).
#
# ## 9. Critical view and ethics
#
# - **Reported results depend on details.** The ablation shows that switching one implementation detail (the
#   clip, a shared trunk) changes what you measure at a fixed budget by more than the seeds' spread; comparisons
#   between algorithms that differ in such details measure the details (Engstrom et al. 2020). Report seeds, budgets and every setting.
# - **Seeds are few.** The stored runs use more seeds than the live cells and report 95 % bootstrap confidence
#   intervals, yet several intervals in section 4.3 are wide and overlap. Henderson et al. (2018) show how easily
#   conclusions flip with few seeds; Agarwal et al. (2021) recommend interval estimates (and the interquartile
#   mean) instead of point estimates. When intervals overlap, say so rather than rank.
# - **Compute and energy.** A CartPole run costs seconds; the same loop at scale (e.g. RLHF for language models)
#   costs large amounts of energy and money, which concentrates who can do such research.
# - **PPO optimises what it is given.** In RLHF the reward is a learned model of human preferences; PPO will
#   exploit its errors (reward hacking), which is why those systems add a KL penalty to a reference model and why
#   whose preferences are collected matters (Ouyang et al. 2022).
#
# ## 10. Further reading and where to go next
#
# - Schulman, Wolski, Dhariwal, Radford, Klimov (2017), *Proximal Policy Optimization Algorithms*
#   ([arXiv:1707.06347](https://arxiv.org/abs/1707.06347)): the clipped objective, the combined loss (eq. 9) and
#   the adaptive KL variant.
# - Schulman, Moritz, Levine, Jordan, Abbeel (2016), *High-Dimensional Continuous Control Using Generalized
#   Advantage Estimation* ([arXiv:1506.02438](https://arxiv.org/abs/1506.02438)): GAE.
# - Huang, Dossa, Raffin, Kanervisto, Wang (2022), *The 37 Implementation Details of Proximal Policy Optimization*
#   (ICLR blog track): every switch of the ablation, with CleanRL code.
# - Engstrom, Ilyas, Santurkar, Tsipras, Janoos, Rudolph, Madry (2020), *Implementation Matters in Deep Policy
#   Gradients: A Case Study on PPO and TRPO* ([arXiv:2005.12729](https://arxiv.org/abs/2005.12729)): code-level
#   optimisations explain much of PPO's edge; value clipping.
# - Andrychowicz et al. (2021), *What Matters in On-Policy Reinforcement Learning? A Large-Scale Empirical Study*
#   ([arXiv:2006.05990](https://arxiv.org/abs/2006.05990)): recommendations from hundreds of thousands of runs.
# - Haarnoja, Zhou, Abbeel, Levine (2018), *Soft Actor-Critic* ([arXiv:1801.01290](https://arxiv.org/abs/1801.01290)),
#   appendix C: the tanh-squashed Gaussian and its log-likelihood correction. Chou, Maturana, Scherer (2017),
#   *Improving Stochastic Policy Gradients in Continuous Control with Deep Reinforcement Learning using the Beta
#   Distribution* (ICML): a bounded Beta policy instead of clipping; Fujita, Maeda (2018), *Clipped Action Policy
#   Gradient* (ICML): a lower-variance gradient for clipped Gaussian actions.
# - Pardo, Tavakoli, Levdik, Kormushev (2018), *Time Limits in Reinforcement Learning*
#   ([arXiv:1712.00378](https://arxiv.org/abs/1712.00378)): why truncation must be bootstrapped.
# - Henderson, Islam, Bachman, Pineau, Precup, Meger (2018), *Deep Reinforcement Learning that Matters*
#   ([arXiv:1709.06560](https://arxiv.org/abs/1709.06560)): seeds and reporting.
# - Agarwal, Schwarzer, Castro, Courville, Bellemare (2021), *Deep Reinforcement Learning at the Edge of the
#   Statistical Precipice* ([arXiv:2108.13264](https://arxiv.org/abs/2108.13264)): interval estimates, the
#   interquartile mean and performance profiles for few-seed RL.
# - Ziegler, Stiennon, Wu, Brown, Radford, Amodei, Christiano, Irving (2019), *Fine-Tuning Language Models from
#   Human Preferences* ([arXiv:1909.08593](https://arxiv.org/abs/1909.08593)): PPO on a language model with the
#   per-token KL penalty to the reference in the reward (section 4.6's main recipe).
# - Ouyang et al. (2022), *Training Language Models to Follow Instructions with Human Feedback*
#   ([arXiv:2203.02155](https://arxiv.org/abs/2203.02155)): InstructGPT; the same KL-in-reward objective at
#   scale, with a learned reward model.
# - Shao et al. (2024), *DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models*
#   ([arXiv:2402.03300](https://arxiv.org/abs/2402.03300)): GRPO, group-relative advantages without a critic and
#   the KL in the loss with the k3 estimator.
# - Schulman (2020), *Approximating KL Divergence* (blog post, joschu.net): the k1, k2 and k3 estimators, their
#   bias and variance.
#
# **Where to go next.** Off-policy actor-critics reuse old data through a replay buffer: **SAC** (Haarnoja, Zhou,
# Abbeel, Levine 2018, *Soft Actor-Critic*, [arXiv:1801.01290](https://arxiv.org/abs/1801.01290)),
# maximum-entropy RL for continuous control; **TD3** (Fujimoto, van Hoof, Meger 2018, *Addressing Function
# Approximation Error in Actor-Critic Methods*, [arXiv:1802.09477](https://arxiv.org/abs/1802.09477)), clipped
# double Q-learning and delayed policy updates. At scale, **IMPALA** (Espeholt et al. 2018,
# [arXiv:1802.01561](https://arxiv.org/abs/1802.01561)) decouples acting from learning with V-trace off-policy
# corrections. PPO in language models: Ziegler et al. (2019, *Fine-Tuning Language Models from Human
# Preferences*, [arXiv:1909.08593](https://arxiv.org/abs/1909.08593)), Stiennon et al. (2020, *Learning to
# Summarize from Human Feedback*, [arXiv:2009.01325](https://arxiv.org/abs/2009.01325)), Ouyang et al. (2022,
# *Training Language Models to Follow Instructions with Human Feedback*, InstructGPT,
# [arXiv:2203.02155](https://arxiv.org/abs/2203.02155)).
#
# ## 11. Glossary and key takeaways
#
# - **$c_1$, $c_2$**: weights of the value loss and the entropy bonus in PPO's loss (not $\lambda$, which is GAE's).
# - **Autoreset step**: in Gymnasium 1.x vector envs, the step after an episode end that only resets; left out.
# - **Truncation bootstrap**: at a time limit the target keeps $\gamma V(s_{final})$; only termination drops it.
# - **Log-det-Jacobian (tanh squashing)**: $-\sum_j[\log(1 - \tanh^2 u_j) + \log\frac{a_{high,j} - a_{low,j}}{2}]$
#   added to $\log\mathcal{N}(u)$ to give $\log\pi(a)$; cancels in PPO's ratio, not in the entropy.
# - **State-dependent $\log\sigma$**: a network head gives the exploration width per state (SAC); a single
#   learned vector gives one width for all states (the PPO paper, SB3's and CleanRL's PPO).
# - **KL early stopping**: stop the epochs on a rollout once the approximate KL exceeds `target_kl`.
# - **Ablation**: change one detail, keep the rest, compare across seeds (with confidence intervals).
# - **Reference model**: the frozen pretrained model that RL fine-tuning of a language model is kept close to.
# - **Per-token KL penalty**: $r_t = -\beta(\log\pi_\theta - \log\pi_{ref})(y_t\mid y_{<t})$, plus $R(y)$ at the
#   last token; summed, $R(y) - \beta$ times a k1 estimate of the sequence KL.
# - **k1, k3**: single-sample KL estimates, $\log(\pi/\pi_{ref})$ and $(\rho - 1) - \log\rho$ with
#   $\rho = \pi_{ref}/\pi$; both unbiased, k3 never negative and of lower variance near the reference.
# - **GRPO**: PPO without a critic; advantage = reward standardised within a group of samples of one prompt.
#
# **Key takeaways**
#
# 1. PPO minimises one loss, $-L^{CLIP} + c_1 L^{VF} - c_2 H$, with one optimiser over actor and critic.
# 2. The loop is: fixed-length vector rollouts, GAE with terminated/truncated kept apart, a few epochs of shuffled
#    minibatches, gradient clipping, diagnostics; about 130 readable lines, identical in its numbers to
#    `course_lib`'s PPO.
# 3. The diagnostics dashboard tells you *why* a run is failing before the return does.
# 4. Details matter and interact with the budget: measure them per task, across enough seeds to give
#    confidence intervals, and say when the intervals overlap.
# 5. For production use a maintained library (Stable-Baselines3); knowing each line lets you read its logs.
# 6. For language models the same PPO optimises reward minus $\beta$ times the KL to a reference. Without that
#    term the policy hacks the reward; k1 belongs in the reward, k3 in a loss; GRPO trades the critic's
#    lower-variance advantages for not having to train one.
#
# This is the last notebook of the course. Go back to notebook 01 with fresh eyes, or take section 10's pointers;
# the README's [Where to go next](../README.md#where-to-go-next) collects them for the whole course.
#
# [Back to the course map](../README.md#course-map)
