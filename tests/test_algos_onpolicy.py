"""Fast tests of the on-policy algorithms: configs, shared pieces, the agent, and the maths of each update.

The learning thresholds (does PPO solve CartPole?) are in test_learning_onpolicy.py (marked slow).
"""
import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from course_lib.advantages import gae
from course_lib.agent import ActorCriticAgent, AgentSpec
from course_lib.algos import a2c, onpolicy, ppo, reinforce, trpo
from course_lib.algos.onpolicy import ActorCriticConfig, advantages_and_returns
from course_lib.diagnostics import explained_variance, kl_exact
from course_lib.envs import make_vec_env
from course_lib.normalisation import RewardScaler
from course_lib.optim import StatMeans, minibatch_indices
from course_lib.record import History
from course_lib.rollout import RolloutCollector


def _rollout(config, seed=0, agent=None):
    """A real rollout of `config`'s env with a fresh agent (returns agent, rollout)."""
    torch.manual_seed(seed)
    envs = make_vec_env(config.env_id, config.num_envs, seed)
    agent = agent or onpolicy.make_agent(config, envs)
    collector = RolloutCollector(envs, agent.policy_step, config.num_steps, obs_normaliser=agent.obs_normaliser)
    rollout = collector.collect()
    envs.close()
    return agent, rollout


# ---- configs -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ppo.PPOConfig(gamma=1.5), r"gamma must be in \[0, 1\]; got 1.5"),
        (lambda: ppo.PPOConfig(lam=-0.1), r"lam must be in \[0, 1\]"),
        (lambda: ppo.PPOConfig(num_envs=4, num_steps=10, num_minibatches=3),
         r"num_minibatches must divide num_envs \* num_steps = 4 \* 10 = 40; got num_minibatches=3"),
        (lambda: ppo.PPOConfig(num_envs=0), r"num_envs must be an integer >= 1; got 0"),
        (lambda: ppo.PPOConfig(clip_eps=0.0), r"clip_eps must be > 0"),
        (lambda: ppo.PPOConfig(objective="clipped"), r"objective must be one of .*'clip'.*got 'clipped'"),
        (lambda: ppo.PPOConfig(target_kl=-1.0), r"target_kl must be > 0"),
        (lambda: ppo.PPOConfig(update_epochs=2.0), r"update_epochs must be an integer"),
        (lambda: ppo.PPOConfig(max_grad_norm=0.0), r"max_grad_norm must be > 0"),
        (lambda: ppo.PPOConfig(ent_coef=-0.01), r"ent_coef must be >= 0"),
        (lambda: ppo.PPOConfig(hidden=(64, 0)), r"hidden\[1\] must be an integer >= 1; got 0"),
        (lambda: a2c.A2CConfig(learning_rate=0), r"learning_rate must be > 0"),
        (lambda: trpo.TRPOConfig(shared_network=True), r"shared_network must be False for TRPO"),
        (lambda: trpo.TRPOConfig(backtrack_coeff=1.0), r"backtrack_coeff must be in \(0, 1\)"),
        (lambda: trpo.TRPOConfig(num_envs=3, num_steps=5, critic_minibatches=2), r"critic_minibatches must divide"),
        (lambda: reinforce.ReinforceConfig(gamma=True), r"gamma must be a real number"),
    ],
)
def test_configs_reject_bad_values_with_clear_messages(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_train_rejects_wrong_config_type_and_steps():
    with pytest.raises(ValueError, match="config must be a PPOConfig; got A2CConfig"):
        ppo.train(a2c.A2CConfig(), total_steps=10, progress=False)
    with pytest.raises(ValueError, match="total_steps must be an integer >= 1; got 0"):
        ppo.train(ppo.PPOConfig(), total_steps=0, progress=False)


# ---- shared pieces -----------------------------------------------------------------------------------------------


def test_explained_variance_known_values():
    ret = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(ret.clone(), ret) == pytest.approx(1.0)
    assert explained_variance(torch.full((4,), 2.5), ret) == pytest.approx(0.0)  # predicting the mean
    # residual ret - v = [0, 0, 0, 1]: Var = 3/16; Var[ret] = 5/4 -> EV = 1 - (3/16) / (5/4) = 0.85
    assert explained_variance(torch.tensor([1.0, 2.0, 3.0, 3.0]), ret) == pytest.approx(0.85)
    assert explained_variance(torch.zeros(4), torch.ones(4)) is None  # Var[ret] = 0: undefined


@pytest.mark.parametrize("shuffle", [True, False])
def test_minibatch_indices_partition_the_batch(shuffle):
    torch.manual_seed(0)
    parts = minibatch_indices(10, 3, shuffle=shuffle)
    assert sorted(len(p) for p in parts) == [3, 3, 4]
    assert sorted(torch.cat(parts).tolist()) == list(range(10))
    if not shuffle:
        assert torch.cat(parts).tolist() == list(range(10))
    with pytest.raises(ValueError, match="num_minibatches must be <= the 2 valid samples of this batch"):
        minibatch_indices(2, 3)


def test_stat_means_average_over_all_additions():
    s = StatMeans()
    for v in [1.0, 2.0, 6.0]:
        s.add(loss=v)
    s.add(kl=0.5)
    assert s.means() == {"loss": 3.0, "kl": 0.5}


def test_plain_returns_equal_gae_with_lambda_one():
    config = ActorCriticConfig(num_envs=4, num_steps=64, gamma=0.9, use_gae=False)
    _, rollout = _rollout(config)
    plain = advantages_and_returns(rollout, config)
    lam1 = gae(rollout.rewards, rollout.values, rollout.next_values(), rollout.terminated, rollout.truncated,
               0.9, 1.0)
    assert rollout.dones.sum() > 0  # episodes end inside the rollout, so the cut/bootstrap rules are exercised
    torch.testing.assert_close(plain.advantages, lam1.advantages, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(plain.returns, lam1.returns, rtol=1e-5, atol=1e-4)


# ---- the agent ---------------------------------------------------------------------------------------------------


def test_agent_save_load_keeps_weights_and_frozen_obs_statistics(tmp_path):
    env = gym.make("Pendulum-v1")
    spec = AgentSpec.from_spaces(env.observation_space, env.action_space, norm_obs=True, hidden=(16,))
    torch.manual_seed(0)
    agent = ActorCriticAgent(spec)
    rng = np.random.default_rng(0)
    agent.obs_normaliser(torch.as_tensor(rng.normal(3.0, 2.0, size=(50, 3)), dtype=torch.float32))
    agent.save(tmp_path / "a.pt")
    back = ActorCriticAgent.load(tmp_path / "a.pt")
    assert back.obs_normaliser.frozen
    np.testing.assert_allclose(back.obs_normaliser.rms.mean, agent.obs_normaliser.rms.mean)
    obs = rng.normal(3.0, 2.0, size=(7, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.act(obs), agent.act(obs))
    # evaluation must not move the statistics
    count = back.obs_normaliser.rms.count
    back.act(obs)
    assert back.obs_normaliser.rms.count == count


def test_agent_act_clips_continuous_actions_and_takes_argmax_for_discrete():
    env = gym.make("Pendulum-v1")
    agent = ActorCriticAgent(AgentSpec.from_spaces(env.observation_space, env.action_space, log_std_init=3.0))
    a = agent.act(np.zeros((1000, 3), dtype=np.float32), deterministic=False)  # sigma = e^3 = 20
    assert a.shape == (1000, 1) and a.min() == -2.0 and a.max() == 2.0
    env = gym.make("CartPole-v1")
    agent = ActorCriticAgent(AgentSpec.from_spaces(env.observation_space, env.action_space))
    obs = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    logits = agent.actor(torch.as_tensor(obs))
    np.testing.assert_array_equal(agent.act(obs, deterministic=True), logits.argmax(-1).numpy())


def test_shared_network_has_one_trunk_and_linear_heads():
    env = gym.make("CartPole-v1")
    agent = ActorCriticAgent(AgentSpec.from_spaces(env.observation_space, env.action_space, shared_network=True))
    heads = [m for m in agent.actor.modules() if isinstance(m, torch.nn.Linear)]
    assert len(heads) == 1 and heads[0].in_features == 64
    # a value-loss gradient reaches the trunk; separate networks would keep it out of the actor
    agent.value(torch.randn(5, 4)).sum().backward()
    assert agent.trunk[0].weight.grad.abs().sum() > 0
    sep = ActorCriticAgent(AgentSpec.from_spaces(env.observation_space, env.action_space))
    sep.value(torch.randn(5, 4)).sum().backward()
    assert all(p.grad is None for p in sep.actor.parameters())


def test_ortho_init_switch():
    env = gym.make("CartPole-v1")
    torch.manual_seed(0)
    ortho = ActorCriticAgent(AgentSpec.from_spaces(env.observation_space, env.action_space))
    torch.manual_seed(0)
    default = ActorCriticAgent(AgentSpec.from_spaces(env.observation_space, env.action_space, ortho_init=False))
    w = ortho.critic.net[2].weight.detach()  # hidden 64x64 layer, gain sqrt(2): W W^T = 2 I
    torch.testing.assert_close(w @ w.T, 2.0 * torch.eye(64), atol=1e-4, rtol=0)
    assert ortho.critic.net[2].bias.abs().sum() == 0
    assert default.critic.net[2].bias.abs().sum() > 0  # PyTorch's default init draws biases too


# ---- the outer loop ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module, config",
    [
        (ppo, ppo.PPOConfig(num_envs=4, num_steps=64, update_epochs=2, num_minibatches=2)),
        (a2c, a2c.A2CConfig()),
        (trpo, trpo.TRPOConfig(num_envs=4, num_steps=64, critic_epochs=2)),
        (reinforce, reinforce.ReinforceConfig(num_envs=2, num_steps=128)),
    ],
)
def test_same_seed_gives_identical_history(module, config):
    _, h1 = module.train(config, seed=3, total_steps=1024, progress=False)
    _, h2 = module.train(config, seed=3, total_steps=1024, progress=False)
    _, h3 = module.train(config, seed=4, total_steps=1024, progress=False)
    assert len(h1) == 1024 // config.batch_size
    assert h1 == h2
    assert h1 != h3


def test_history_rows_count_env_steps_and_recent_returns():
    config = ppo.PPOConfig(num_envs=4, num_steps=50, update_epochs=1)
    _, h = ppo.train(config, seed=0, total_steps=1000, progress=False)
    np.testing.assert_array_equal(h.column("env_steps"), np.arange(1, 6) * 200)
    for row in h.rows:
        done = [e.ret for e in h.episodes if e.env_steps <= row.env_steps]
        assert row.episode_return_mean == pytest.approx(np.mean(done[-20:]))
    # CartPole: return = length = +1 per step
    assert all(e.ret == e.length for e in h.episodes)


def test_learning_rate_and_clip_range_anneal_linearly():
    config = ppo.PPOConfig(num_envs=2, num_steps=16, update_epochs=1, learning_rate=1e-3, clip_eps=0.2)
    _, h = ppo.train(config, seed=0, total_steps=32 * 4, progress=False)
    np.testing.assert_allclose(h.column("learning_rate"), 1e-3 * np.array([1.0, 0.75, 0.5, 0.25]))
    np.testing.assert_allclose(h.column("clip_eps"), 0.2 * np.array([1.0, 0.75, 0.5, 0.25]))
    fixed = dataclasses.replace(config, anneal_lr=False, anneal_clip=False)
    _, h = ppo.train(fixed, seed=0, total_steps=32 * 4, progress=False)
    np.testing.assert_allclose(h.column("learning_rate"), 1e-3)
    np.testing.assert_allclose(h.column("clip_eps"), 0.2)


class _NaNRewardEnv(gym.Env):
    """Reward 1, then NaN from step 30 on: a stand-in for a diverging task."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(2, dtype=np.float32), (np.nan if self.t >= 30 else 1.0), False, self.t >= 100, {}


def test_a_nan_reward_names_the_environment_not_a_divergence():
    if "test/NaNReward-v0" not in gym.registry:
        gym.register("test/NaNReward-v0", entry_point=_NaNRewardEnv)
    config = ppo.PPOConfig(env_id="test/NaNReward-v0", num_envs=2, num_steps=10, update_epochs=1)
    # steps 1-29 pay 1; step 30 (env steps 59-60 of both envs) pays NaN: the environment is at fault, not training
    with pytest.raises(ValueError, match=r"^the environment test/NaNReward-v0 returned a non-finite reward "
                                         r"\[nan, nan\] at env step 60; rewards must be finite numbers$"):
        ppo.train(config, seed=0, total_steps=200, progress=False)


class _DivergingLearner:
    """A learner whose statistics turn NaN at its third update."""

    def __init__(self, agent, config):
        self.calls = 0

    def update(self, rollout, frac_remaining):
        self.calls += 1
        return {"policy_loss": float("nan") if self.calls >= 3 else 0.5, "learning_rate": 1e-3}


def test_divergence_raises_naming_update_and_quantity():
    config = ppo.PPOConfig(num_envs=2, num_steps=10)
    with pytest.raises(FloatingPointError, match=r"update 3: policy_loss is not finite"):
        onpolicy.run_onpolicy(config, 0, 200, _DivergingLearner, progress_bar=False)


def test_reward_scaling_divides_by_return_std_and_keeps_episode_stats_raw():
    config = ppo.PPOConfig(num_envs=2, num_steps=64, scale_reward=True)
    torch.manual_seed(0)
    envs = make_vec_env(config.env_id, 2, 0)
    agent = onpolicy.make_agent(config, envs)
    scaler = RewardScaler(config.gamma, 2)
    collector = RolloutCollector(envs, agent.policy_step, 64, reward_scaler=scaler)
    r = collector.collect()
    envs.close()
    valid_rewards = r.rewards[r.valid]
    # all raw rewards are 1, so every scaled reward is 1 / (the running std at its step): positive, never shifted
    assert torch.all(valid_rewards > 0) and torch.all(valid_rewards <= 10.0)
    assert valid_rewards[-1] == pytest.approx(1.0 / scaler.std, rel=1e-5)
    assert all(float(x).is_integer() for x in r.episode_returns)  # episode statistics stay raw
    # the autoreset steps were kept out: count = number of valid steps
    assert scaler.rms.count == r.num_valid


# ---- PPO ---------------------------------------------------------------------------------------------------------


def test_ppo_logs_the_mean_over_all_minibatches_not_the_last(monkeypatch):
    recorded = []
    original = ppo.ppo_clip_loss

    def spy(*args, **kwargs):
        loss, stats = original(*args, **kwargs)
        recorded.append((loss.item(), stats.approx_kl, stats.clip_fraction))
        return loss, stats

    monkeypatch.setattr(ppo, "ppo_clip_loss", spy)
    config = ppo.PPOConfig(num_envs=4, num_steps=64, update_epochs=4, num_minibatches=4, learning_rate=3e-3)
    agent, rollout = _rollout(config)
    row = ppo.PPOLearner(agent, config).update(rollout, 1.0)
    rec = np.array(recorded)
    assert len(rec) == 16 and row["epochs"] == 4.0
    assert row["policy_loss"] == pytest.approx(rec[:, 0].mean())
    assert row["approx_kl"] == pytest.approx(rec[:, 1].mean())
    assert row["clip_fraction"] == pytest.approx(rec[:, 2].mean())
    assert row["policy_loss"] != pytest.approx(rec[-1, 0])


def test_ppo_target_kl_stops_the_update_early():
    config = ppo.PPOConfig(num_envs=4, num_steps=64, update_epochs=10, num_minibatches=4, learning_rate=1e-2,
                           target_kl=1e-4)
    agent, rollout = _rollout(config)
    row = ppo.PPOLearner(agent, config).update(rollout, 1.0)
    assert 0 < row["epochs"] < 10
    free = dataclasses.replace(config, target_kl=None)
    agent, rollout = _rollout(free)
    assert ppo.PPOLearner(agent, free).update(rollout, 1.0)["epochs"] == 10


def test_ppo_kl_penalty_adapts_beta_by_the_paper_rule():
    config = ppo.PPOConfig(num_envs=4, num_steps=64, objective="kl_penalty", kl_beta_init=1.0, learning_rate=1e-2,
                           kl_penalty_target=1e-6)
    agent, rollout = _rollout(config)
    learner = ppo.PPOLearner(agent, config)
    row = learner.update(rollout, 1.0)
    assert row["kl_beta"] == 1.0 and row["clip_eps"] is None
    assert learner.beta == 2.0  # KL >> 1.5 * d_targ: doubled
    config = dataclasses.replace(config, kl_penalty_target=10.0, learning_rate=1e-6)
    agent, rollout = _rollout(config)
    learner = ppo.PPOLearner(agent, config)
    learner.update(rollout, 1.0)
    assert learner.beta == 0.5  # KL << d_targ / 1.5: halved


def test_ppo_clipping_keeps_the_policy_closer_than_the_plain_surrogate():
    # same data, same steps; the clipped objective stops pushing ratios past 1 +- eps, the plain one does not
    kls = {}
    for objective in ("clip", "unclipped"):
        config = ppo.PPOConfig(num_envs=4, num_steps=128, update_epochs=30, learning_rate=3e-3, clip_eps=0.1,
                               anneal_clip=False, objective=objective, max_grad_norm=None)
        agent, rollout = _rollout(config, seed=1)
        ppo.PPOLearner(agent, config).update(rollout, 1.0)
        batch = rollout.flat()
        with torch.no_grad():
            logp = agent.actor.log_prob(agent.distribution(batch.obs), batch.actions)
        kls[objective] = float(((logp - batch.logp_old).exp() - 1 - (logp - batch.logp_old)).mean())
    assert kls["clip"] < kls["unclipped"]


def test_ppo_continuous_stores_unclipped_actions_and_learns_log_std():
    config = ppo.pendulum_config(num_envs=2, num_steps=64, log_std_init=1.0)
    agent, rollout = _rollout(config)
    assert rollout.actions.shape == (64, 2, 1)
    assert rollout.actions.abs().max() > 2.0  # sigma = e: samples beyond the bounds are stored as sampled
    before = agent.actor.log_std.detach().clone()
    ppo.PPOLearner(agent, config).update(rollout, 1.0)
    assert not torch.equal(before, agent.actor.log_std.detach())


def test_lunarlander_config_is_what_its_comment_says_and_takes_overrides():
    c = ppo.lunarlander_config()
    assert (c.env_id, c.num_envs, c.num_steps, c.gamma, c.lam, c.ent_coef) == ("LunarLander-v3", 16, 1024, 0.999,
                                                                             0.98, 0.01)
    # 10 epochs of minibatches of 128 samples, constant lr and clip range
    assert (c.update_epochs, c.minibatch_size, c.learning_rate, c.anneal_lr, c.anneal_clip) == (10, 128, 3e-4,
                                                                                             False, False)
    assert ppo.lunarlander_config(num_minibatches=256).minibatch_size == 64
    with pytest.raises(ValueError, match="num_minibatches must divide"):
        ppo.lunarlander_config(num_minibatches=3)
    # one update on a short LunarLander rollout runs and moves the policy
    small = ppo.lunarlander_config(num_envs=2, num_steps=64, num_minibatches=4, update_epochs=2)
    agent, rollout = _rollout(small)
    before = [p.detach().clone() for p in agent.actor.parameters()]
    stats = ppo.PPOLearner(agent, small).update(rollout, 1.0)
    assert stats["epochs"] == 2 and any(not torch.equal(b, p) for b, p in zip(before, agent.actor.parameters()))


# ---- A2C and REINFORCE -------------------------------------------------------------------------------------------


def test_a2c_single_step_matches_manual_gradient():
    config = a2c.A2CConfig(num_envs=2, num_steps=16, max_grad_norm=None, ent_coef=0.01, use_gae=False, norm_adv=False)
    agent, rollout = _rollout(config)
    manual = ActorCriticAgent(agent.spec)
    manual.load_state_dict(agent.state_dict())
    a2c.A2CLearner(agent, config).update(rollout, 1.0)
    # the same step by hand: n-step returns, loss = -E[logp A] + 0.5 * 0.5 E[(V - R)^2] - 0.01 H, one Adam step
    est = advantages_and_returns(rollout, config)
    b = rollout.flat(est.advantages, est.returns)
    dist = manual.distribution(b.obs)
    logp = dist.log_prob(b.actions)
    loss = -(logp * b.adv).mean() + 0.5 * 0.5 * ((manual.value(b.obs) - b.ret) ** 2).mean() \
        - 0.01 * dist.entropy().mean()
    opt = torch.optim.Adam(manual.parameters(), lr=config.learning_rate, eps=config.adam_eps)
    loss.backward()
    opt.step()
    for p, q in zip(agent.parameters(), manual.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_finished_episode_mask_keeps_only_steps_with_a_known_return():
    config = reinforce.ReinforceConfig(num_envs=3, num_steps=40)
    _, r = _rollout(config)
    mask = reinforce.finished_episode_mask(r)
    done = r.dones.numpy() > 0
    for i in range(3):
        ends = np.flatnonzero(done[:, i])
        last_end = ends.max() if len(ends) else -1
        expected = np.zeros(40, dtype=bool)
        expected[: last_end + 1] = True
        expected &= r.valid[:, i].numpy()
        np.testing.assert_array_equal(mask[:, i].numpy(), expected)


def test_reinforce_without_baseline_leaves_the_critic_untouched():
    config = reinforce.ReinforceConfig(num_envs=2, num_steps=128, baseline=False)
    agent, rollout = _rollout(config)
    critic_before = [p.detach().clone() for p in agent.critic.parameters()]
    actor_before = [p.detach().clone() for p in agent.actor.parameters()]
    row = reinforce.ReinforceLearner(agent, config).update(rollout, 1.0)
    assert row["value_loss"] is None
    assert all(torch.equal(a, b) for a, b in zip(critic_before, agent.critic.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(actor_before, agent.actor.parameters()))


# ---- TRPO --------------------------------------------------------------------------------------------------------


def test_conjugate_gradient_solves_spd_system():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=g, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    x = trpo.conjugate_gradient(lambda v: a @ v, b, iters=6)  # exact after n iterations (up to rounding)
    torch.testing.assert_close(x, torch.linalg.solve(a, b))


def test_fisher_vector_product_matches_softmax_fisher():
    # KL(p_old || softmax(theta)) at theta = theta_old has Hessian diag(p) - p p^T (the categorical Fisher matrix)
    theta = torch.tensor([0.3, -1.0, 0.5, 2.0], dtype=torch.float64, requires_grad=True)
    p = torch.softmax(theta.detach(), 0)
    d_old = torch.distributions.Categorical(probs=p)
    d_new = torch.distributions.Categorical(logits=theta)
    fvp = trpo.fisher_vector_product(kl_exact(d_old, d_new), [theta], damping=0.1)
    fisher = torch.diag(p) - torch.outer(p, p)
    v = torch.tensor([1.0, 2.0, -1.0, 0.5], dtype=torch.float64)
    torch.testing.assert_close(fvp(v), fisher @ v + 0.1 * v)


def test_natural_gradient_step_sits_on_the_kl_bound():
    f = torch.tensor([[2.0, 0.3], [0.3, 1.0]], dtype=torch.float64)
    g = torch.tensor([1.0, -2.0], dtype=torch.float64)
    s = trpo.natural_gradient_step(g, lambda v: f @ v, max_kl=0.01, cg_iters=2)
    assert 0.5 * s @ f @ s == pytest.approx(0.01)
    # and it points along F^{-1} g
    direction = torch.linalg.solve(f, g)
    assert torch.allclose(s / s.norm(), direction / direction.norm())


def test_trpo_update_stays_in_the_trust_region_and_improves_the_surrogate():
    config = trpo.TRPOConfig(num_envs=4, num_steps=64, max_kl=0.005, critic_epochs=1)
    agent, rollout = _rollout(config)
    batch = rollout.flat()
    with torch.no_grad():
        d_old = agent.distribution(batch.obs)
    critic_before = [p.detach().clone() for p in agent.critic.parameters()]
    row = trpo.TRPOLearner(agent, config).update(rollout, 1.0)
    assert row["step_fraction"] > 0
    with torch.no_grad():
        kl = kl_exact(d_old, agent.distribution(batch.obs)).mean().item()
    assert 0 < kl <= 0.005
    assert row["policy_loss"] < 0  # -L(theta_new) < -L(theta_old) = -E[A_norm] = 0
    assert not all(torch.equal(a, b) for a, b in zip(critic_before, agent.critic.parameters()))


def test_history_is_a_history():
    _, h = a2c.train(a2c.A2CConfig(num_envs=2, num_steps=8), seed=0, total_steps=64, progress=False)
    assert isinstance(h, History) and len(h) == 4
