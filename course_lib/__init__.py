"""Actor-Critic to PPO: the course library."""
