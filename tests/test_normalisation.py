"""Maths checks for course_lib.normalisation: running moments equal batch moments, reward scaling tracks the std of
the discounted return, normalisers round-trip their state, advantage normalisation is finite for any batch."""
import io

import numpy as np
import pytest
import torch

from course_lib.normalisation import ObsNormaliser, RewardScaler, RunningMeanStd, normalise_advantages


def random_chunks(data, rng, max_size=40):
    """Split data along axis 0 into random consecutive chunks (sizes 0..max_size, so some are empty or single)."""
    chunks, start = [], 0
    while start < len(data):
        size = int(rng.integers(0, max_size + 1))
        chunks.append(data[start:start + size])
        start += size
    return chunks


# ---------------------------------------------------------------------------------------------------------------
# RunningMeanStd
# ---------------------------------------------------------------------------------------------------------------
def test_rms_initial_state():
    rms = RunningMeanStd(3)
    assert rms.shape == (3,) and rms.count == 0.0
    np.testing.assert_array_equal(rms.mean, np.zeros(3))
    np.testing.assert_array_equal(rms.var, np.ones(3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rms_updates_over_random_chunks_equal_numpy_moments(seed):
    rng = np.random.default_rng(seed)
    # large offset and mixed scales: a naive sum-of-squares formula would lose precision here
    data = rng.normal(loc=[1e4, -3.0, 0.0], scale=[0.5, 10.0, 1e-3], size=(1000, 3))
    rms = RunningMeanStd((3,))
    for chunk in random_chunks(data, rng):
        rms.update(chunk)
    assert rms.count == 1000
    np.testing.assert_allclose(rms.mean, data.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(rms.var, data.var(axis=0), rtol=1e-9)
    np.testing.assert_allclose(rms.std, data.std(axis=0), rtol=1e-9)


def test_rms_merge_of_workers_equals_numpy_moments():
    rng = np.random.default_rng(3)
    data = rng.normal(5.0, 2.0, size=(600, 2))
    workers = [RunningMeanStd(2) for _ in range(3)]
    for i, chunk in enumerate(random_chunks(data, rng, max_size=25)):
        workers[i % 3].update(chunk)
    total = RunningMeanStd(2)
    for w in workers:
        total.merge(w)
    total.merge(RunningMeanStd(2))  # merging an empty one changes nothing
    assert total.count == 600
    np.testing.assert_allclose(total.mean, data.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(total.var, data.var(axis=0), rtol=1e-10)


def test_rms_scalar_shape_and_torch_input():
    rms = RunningMeanStd()
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    rms.update(x[:1])
    rms.update(x[1:])
    assert rms.mean == pytest.approx(2.5) and rms.var == pytest.approx(1.25)


def test_rms_state_dict_round_trip_through_torch_save():
    rng = np.random.default_rng(4)
    rms = RunningMeanStd(2)
    rms.update(rng.normal(size=(50, 2)))
    buffer = io.BytesIO()
    torch.save(rms.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # plain tensors only: loads in the safe mode
    restored = RunningMeanStd(2)
    restored.load_state_dict(state)
    np.testing.assert_array_equal(restored.mean, rms.mean)
    np.testing.assert_array_equal(restored.var, rms.var)
    assert restored.count == rms.count
    restored.update(np.ones((5, 2)))  # a copy: the original is untouched
    assert rms.count == 50


def test_rms_errors():
    rms = RunningMeanStd(3)
    with pytest.raises(ValueError, match=r"batch has shape \(3,\) but this RunningMeanStd tracks samples of shape"):
        rms.update(np.zeros(3))
    with pytest.raises(ValueError, match=r"batch has shape \(5, 2\)"):
        rms.update(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"cannot merge a RunningMeanStd of shape \(2,\) into one of shape \(3,\)"):
        rms.merge(RunningMeanStd(2))
    with pytest.raises(ValueError, match=r"state is missing \['count'\]"):
        rms.load_state_dict({"mean": np.zeros(3), "var": np.ones(3)})
    with pytest.raises(ValueError, match=r"state\['var'\] has shape \(2,\) but this RunningMeanStd has shape \(3,\)"):
        rms.load_state_dict({"mean": np.zeros(3), "var": np.ones(2), "count": 1.0})
    with pytest.raises(ValueError, match=r"state has count -1.0 .* must be >= 0"):
        rms.load_state_dict({"mean": np.zeros(3), "var": np.ones(3), "count": -1.0})


# ---------------------------------------------------------------------------------------------------------------
# ObsNormaliser
# ---------------------------------------------------------------------------------------------------------------
def test_obs_normaliser_uses_moments_of_everything_seen():
    rng = np.random.default_rng(5)
    norm = ObsNormaliser((3,), clip=None)
    seen = []
    for _ in range(20):
        obs = rng.normal([1.0, -2.0, 50.0], [0.1, 3.0, 20.0], size=(4, 3)).astype(np.float32)
        out = norm(obs)
        seen.append(obs.astype(np.float64))
        all_seen = np.concatenate(seen)
        # updated first, then normalised: (obs - mean) / sqrt(var + eps) over all observations so far
        expected = (obs - all_seen.mean(0)) / np.sqrt(all_seen.var(0) + 1e-8)
        assert out.dtype == np.float32 and out.shape == (4, 3)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    big = np.concatenate(seen)
    out = norm(big, update=False)
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1.0, atol=1e-5)


def test_obs_normaliser_clips():
    norm = ObsNormaliser(2, clip=5.0)
    norm(np.random.default_rng(6).normal(size=(100, 2)))
    out = norm(np.array([[1e6, -1e6]]), update=False)
    np.testing.assert_array_equal(out, [[5.0, -5.0]])
    with pytest.raises(ValueError, match=r"clip must be > 0"):
        ObsNormaliser(2, clip=0.0)


def test_obs_normaliser_freeze_and_update_flag():
    rng = np.random.default_rng(7)
    norm = ObsNormaliser(2)
    norm(rng.normal(size=(30, 2)))
    mean, var, count = norm.rms.mean.copy(), norm.rms.var.copy(), norm.rms.count
    norm.freeze()
    assert norm.frozen
    obs = rng.normal(10.0, 1.0, size=(8, 2))
    out = norm(obs)  # frozen: update=True is ignored
    norm(obs, update=True)
    np.testing.assert_array_equal(norm.rms.mean, mean)
    assert norm.rms.count == count
    np.testing.assert_allclose(out, np.clip((obs - mean) / np.sqrt(var + 1e-8), -10, 10), rtol=1e-6)
    norm.unfreeze()
    norm(obs, update=False)
    assert norm.rms.count == count
    norm(obs)
    assert norm.rms.count == count + 8


def test_obs_normaliser_single_obs_and_torch():
    norm = ObsNormaliser((2,))
    norm(np.array([[0.0, 0.0], [2.0, 4.0]]))  # mean (1, 2), var (1, 4)
    single = norm(np.array([3.0, 2.0], dtype=np.float64), update=False)
    assert single.shape == (2,) and single.dtype == np.float64
    np.testing.assert_allclose(single, [2.0, 0.0], rtol=1e-6)
    t = norm(torch.tensor([[3.0, 6.0]]), update=False)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.shape == (1, 2)
    torch.testing.assert_close(t, torch.tensor([[2.0, 2.0]]))
    ints = norm(np.array([[1, 2]]), update=False)
    assert ints.dtype == np.float32
    torch_ints = norm(torch.tensor([[1, 2]]), update=False)
    assert torch_ints.dtype == torch.float32
    msg = r"obs has shape \(3,\) but this ObsNormaliser expects \(2,\) or \(N, \*\(2,\)\)"
    with pytest.raises(ValueError, match=msg):
        norm(np.zeros(3))


def test_obs_normaliser_state_dict_reproduces_outputs():
    rng = np.random.default_rng(8)
    norm = ObsNormaliser(3)
    for _ in range(5):
        norm(rng.normal(2.0, 3.0, size=(6, 3)))
    buffer = io.BytesIO()
    torch.save(norm.state_dict(), buffer)
    buffer.seek(0)
    restored = ObsNormaliser(3)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    restored.freeze()
    obs = rng.normal(size=(4, 3))
    np.testing.assert_array_equal(restored(obs), norm(obs, update=False))
    assert norm.shape == restored.shape == (3,)


# ---------------------------------------------------------------------------------------------------------------
# RewardScaler
# ---------------------------------------------------------------------------------------------------------------
def discounted_return_stream(rewards, dones, gamma):
    """Plain loop: G_t = r_t + gamma * G_{t-1}, restarted after each episode end; shape (T, N)."""
    T, N = rewards.shape
    G = np.zeros((T, N))
    for i in range(N):
        g = 0.0
        for t in range(T):
            g = rewards[t, i] + gamma * g
            G[t, i] = g
            if dones[t, i]:
                g = 0.0
    return G


@pytest.mark.parametrize("gamma", [0.99, 0.9, 0.0])
def test_reward_scaler_std_is_std_of_tracked_discounted_returns(gamma):
    rng = np.random.default_rng(9)
    T, N = 300, 4
    rewards = rng.normal(3.0, 5.0, size=(T, N))
    terminated = rng.random((T, N)) < 0.03
    truncated = rng.random((T, N)) < 0.03
    G = discounted_return_stream(rewards, terminated | truncated, gamma)
    scaler = RewardScaler(gamma, N, clip=None)
    for t in range(T):
        out = scaler(rewards[t], terminated[t], truncated[t])
        seen = G[: t + 1].reshape(-1)
        # scaled by the std of every discounted return seen so far (including this step's), never shifted
        np.testing.assert_allclose(out, rewards[t] / np.sqrt(seen.var() + 1e-8), rtol=1e-9)
    assert scaler.rms.count == T * N
    assert scaler.std == pytest.approx(np.sqrt(G.var() + 1e-8), rel=1e-10)
    np.testing.assert_allclose(scaler.rms.mean, G.mean(), rtol=1e-10)


def test_reward_scaler_preserves_signs_and_ratios():
    # no shift: a constant reward of +1 stays positive (centring would turn it into ~0, errata 12)
    scaler = RewardScaler(0.99, 2)
    for _ in range(200):
        out = scaler(np.ones(2, dtype=np.float32), np.zeros(2), np.zeros(2))
    assert out.dtype == np.float32 and np.all(out > 0)
    out = scaler(np.array([2.0, -4.0]), np.zeros(2), np.zeros(2), update=False)
    assert out[0] > 0 > out[1] and out[1] / out[0] == pytest.approx(-2.0)


def test_reward_scaler_valid_mask_skips_fake_steps():
    # next-step autoreset: the step after an episode end is fake (r = 0, flags False). With valid=False there it
    # must not count; the statistics then equal those of a run without the fake steps.
    gamma = 0.9
    r = np.array([[1.0], [2.0], [0.0], [3.0], [1.0]])
    term = np.array([[0.0], [1.0], [0.0], [0.0], [0.0]])
    valid = np.array([[True], [True], [False], [True], [True]])
    with_fake = RewardScaler(gamma, 1)
    for t in range(5):
        with_fake(r[t], term[t], np.zeros(1), valid=valid[t])
    G = np.array([1.0, 2.0 + 0.9 * 1.0, 3.0, 1.0 + 0.9 * 3.0])  # the four real steps
    assert with_fake.rms.count == 4
    assert with_fake.rms.var == pytest.approx(G.var())
    np.testing.assert_allclose(with_fake.returns, [G[-1]])


def test_reward_scaler_clips_and_torch_input():
    scaler = RewardScaler(0.99, 1, clip=2.0)
    scaler(np.array([1.0]), np.zeros(1), np.zeros(1))
    scaler(np.array([-1.0]), np.zeros(1), np.zeros(1))  # G = 1, -0.01: std ~ 0.505
    out = scaler(torch.tensor([100.0]), torch.tensor([False]), torch.tensor([True]), update=False)
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, torch.tensor([2.0]))
    np.testing.assert_array_equal(scaler.returns, [0.0])  # truncation also ends the return


def test_reward_scaler_state_dict_round_trip_and_errors():
    rng = np.random.default_rng(10)
    scaler = RewardScaler(0.95, 3)
    for _ in range(10):
        scaler(rng.normal(size=3), np.zeros(3), np.zeros(3))
    buffer = io.BytesIO()
    torch.save(scaler.state_dict(), buffer)
    buffer.seek(0)
    restored = RewardScaler(0.95, 3)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    r = rng.normal(size=3)
    np.testing.assert_array_equal(restored(r, np.zeros(3), np.zeros(3)), scaler(r, np.zeros(3), np.zeros(3)))
    np.testing.assert_array_equal(restored.returns, scaler.returns)
    with pytest.raises(ValueError, match=r"expected 'rms' and 'returns'"):
        restored.load_state_dict({"rms": scaler.rms.state_dict()})
    with pytest.raises(ValueError, match=r"state\['returns'\] has shape \(2,\) but this RewardScaler was built for"):
        restored.load_state_dict({"rms": scaler.rms.state_dict(), "returns": torch.zeros(2)})
    with pytest.raises(ValueError, match=r"rewards has shape \(2,\) but this RewardScaler was built for num_envs=3"):
        scaler(np.zeros(2), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"terminated has shape \(3, 1\)"):
        scaler(np.zeros(3), np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]; got 1.01"):
        RewardScaler(1.01, 3)
    with pytest.raises(ValueError, match=r"num_envs must be an integer >= 1; got 0"):
        RewardScaler(0.99, 0)
    with pytest.raises(ValueError, match=r"eps must be > 0"):
        RewardScaler(0.99, 2, eps=0.0)


# ---------------------------------------------------------------------------------------------------------------
# normalise_advantages
# ---------------------------------------------------------------------------------------------------------------
def test_normalise_advantages_mean_zero_std_one():
    adv = torch.randn(256, generator=torch.Generator().manual_seed(11), dtype=torch.float64) * 7 + 3
    out = normalise_advantages(adv)
    assert out.mean().item() == pytest.approx(0.0, abs=1e-12)
    assert out.std(correction=0).item() == pytest.approx(1.0, abs=1e-8)
    # an affine map with positive slope: order and signs relative to the mean are kept
    assert torch.equal(torch.argsort(out), torch.argsort(adv))


def test_normalise_advantages_one_sample_and_constant_batch_are_finite():
    one = normalise_advantages(torch.tensor([5.0]))
    assert torch.isfinite(one).all() and one.item() == 0.0
    # the bug it avoids: torch's default std() has Bessel's correction, NaN for a single sample
    with pytest.warns(UserWarning, match="degrees of freedom"):
        assert torch.isnan(torch.tensor([5.0]).std())
    const = normalise_advantages(torch.full((10,), -2.5))
    torch.testing.assert_close(const, torch.zeros(10))


def test_normalise_advantages_uses_valid_entries_only():
    g = torch.Generator().manual_seed(12)
    adv = torch.randn(6, 5, generator=g)
    valid = torch.rand(6, 5, generator=g) > 0.3
    adv_with_junk = torch.where(valid, adv, torch.tensor(1e6))  # invalid entries must not move the statistics
    out = normalise_advantages(adv_with_junk, valid)
    assert out.shape == (6, 5)
    torch.testing.assert_close(out[valid], normalise_advantages(adv[valid]))
    assert out[valid].mean().abs().item() < 1e-5
    assert out[valid].std(correction=0).item() == pytest.approx(1.0, abs=1e-5)


def test_normalise_advantages_errors():
    with pytest.raises(ValueError, match=r"eps must be > 0"):
        normalise_advantages(torch.ones(3), eps=0.0)
    with pytest.raises(ValueError, match=r"valid has shape \(2,\) but x has shape \(3,\)"):
        normalise_advantages(torch.ones(3), torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"valid marks no sample as valid"):
        normalise_advantages(torch.ones(3), torch.zeros(3, dtype=torch.bool))
