"""The course's learning algorithms, one module each (import the one you need, e.g. ``from course_lib.algos import ppo``).

On-policy actor-critic family (shared rollout, advantages, networks, agent and outer loop in ``onpolicy``):
``reinforce`` (with or without a learned baseline), ``a2c``, ``ppo`` (clipped surrogate or adaptive KL penalty),
``trpo``. Each has a config dataclass and ``train(config=None, seed=0, total_steps=100_000, progress=True)
-> (agent, History)``; ``dqn.train`` has the same shape.

Value-based: ``qlearning`` (tabular Q-learning / SARSA, trained per episode: ``train(config, env, seed)``) and
``dqn``.
"""
