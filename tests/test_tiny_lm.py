"""The maths of course_lib.tiny_lm: sequence probabilities, the chain rule for the sequence KL, k1/k3 estimates
against exact values, the reward, GRPO's group-relative advantage, the KL-shaped rewards, the KL-regularised
optimum, and a short fine-tuning run."""
from __future__ import annotations

import math

import pytest
import torch

from course_lib import tiny_lm as tl

torch.set_num_threads(1)

SMALL = tl.LMSpec(vocab=3, length=5, context=2, embed=4, hidden=16)


def _model(spec: tl.LMSpec, seed: int, scale: float = 1.0) -> tl.TinyLM:
    """A random model whose logits are spread by ``scale`` (bigger: further from uniform)."""
    torch.manual_seed(seed)
    m = tl.TinyLM(spec)
    with torch.no_grad():
        m.mlp[-1].weight.mul_(scale)
    return m.eval()


def _brute_kl(p_model, q_model, spec):
    ys = tl.enumerate_sequences(spec)
    with torch.no_grad():
        lp, lq = tl.sequence_logp(p_model, ys), tl.sequence_logp(q_model, ys)
    return float((lp.exp() * (lp - lq)).sum())


def test_contexts_pad_with_bos_and_shift():
    spec = tl.LMSpec(vocab=4, length=4, context=2)
    ctx, pos = tl.contexts(torch.tensor([[0, 1, 2, 3]]), spec)
    assert ctx[0].tolist() == [[4, 4], [4, 0], [0, 1], [1, 2]]
    assert pos[0].tolist() == [0, 1, 2, 3]


def test_sequence_log_probs_are_sums_of_token_log_probs_and_normalise():
    m = _model(SMALL, 0, 3.0)
    ys = tl.enumerate_sequences(SMALL)
    assert ys.shape == (3 ** 5, 5)
    with torch.no_grad():
        logp_tok, ent = tl.token_logp(m, ys)
        seq = tl.sequence_logp(m, ys)
    torch.testing.assert_close(seq, logp_tok.sum(-1))
    assert abs(float(seq.exp().sum()) - 1.0) < 1e-5  # a distribution over all V**T sequences
    assert bool((ent >= 0).all()) and bool((ent <= math.log(3) + 1e-6).all())


def test_sampling_follows_the_model_distribution():
    spec = tl.LMSpec(vocab=3, length=3, context=2, embed=4, hidden=16)
    m = _model(spec, 1, 3.0)
    ys = tl.enumerate_sequences(spec)
    with torch.no_grad():
        p = tl.sequence_logp(m, ys).exp()
    n = 40_000
    draws = tl.sample(m, n, torch.Generator().manual_seed(0))
    index = (draws * torch.tensor([9, 3, 1])).sum(-1)
    freq = torch.bincount(index, minlength=27).double() / n
    se = torch.sqrt(p.double() * (1 - p.double()) / n)
    assert bool(((freq - p.double()).abs() <= 5 * se + 1e-4).all())


@pytest.mark.parametrize("context", [1, 2, 3])
def test_exact_kl_by_contexts_equals_brute_force_enumeration(context):
    spec = tl.LMSpec(vocab=3, length=5, context=context, embed=4, hidden=16)
    p, q = _model(spec, 2, 3.0), _model(spec, 3, 3.0)
    ex = tl.exact_kl(p, q)
    assert abs(ex.kl - _brute_kl(p, q, spec)) < 1e-5
    assert ex.kl > 0.1  # the two models differ, so the check is not 0 == 0


def test_chain_rule_each_position_is_the_expected_per_token_kl():
    """KL_t from the forward pass equals E_{y_<t ~ pi}[KL(pi(.|y_<t) || pi_ref(.|y_<t))] by enumeration."""
    p, q = _model(SMALL, 4, 3.0), _model(SMALL, 5, 3.0)
    ex = tl.exact_kl(p, q)
    assert abs(float(ex.kl_per_position.sum()) - ex.kl) < 1e-6
    ys = tl.enumerate_sequences(SMALL)
    with torch.no_grad():
        ctx, pos = tl.contexts(ys, SMALL)
        lp, lq = torch.log_softmax(p(ctx, pos), -1), torch.log_softmax(q(ctx, pos), -1)  # (N, T, V)
        seq_p = tl.sequence_logp(p, ys).exp()
    kl_tok = (lp.exp() * (lp - lq)).sum(-1)  # (N, T): KL at the prefix of each sequence
    # each prefix y_<t appears in V**(T-t) sequences whose probabilities sum to pi(y_<t)
    brute = (seq_p.unsqueeze(1) * kl_tok).sum(0)
    torch.testing.assert_close(ex.kl_per_position, brute, atol=1e-5, rtol=1e-4)


def test_sampled_k1_and_k3_sums_estimate_the_exact_sequence_kl():
    p, q = _model(SMALL, 6, 2.0), _model(SMALL, 7, 2.0)
    exact = tl.exact_kl(p, q).kl
    ys = tl.sample(p, 50_000, torch.Generator().manual_seed(1))
    with torch.no_grad():
        lp, lq = tl.token_logp(p, ys)[0], tl.token_logp(q, ys)[0]
    k1 = tl.kl_estimate(lp, lq, "k1").sum(-1).double()
    k3 = tl.kl_estimate(lp, lq, "k3").sum(-1).double()
    for est in (k1, k3):
        se = float(est.std() / math.sqrt(len(est)))
        assert abs(float(est.mean()) - exact) < 5 * se, (float(est.mean()), exact, se)
    assert bool((tl.kl_estimate(lp, lq, "k3") >= 0).all())


def test_kl_on_the_wrong_distribution_is_caught():
    """KL(pi || pi_ref) != KL(pi_ref || pi) here, and samples from pi estimate only the first: the estimate with
    the roles swapped (log pi_ref - log pi) is negative on average, far from both."""
    p, q = _model(SMALL, 8, 3.0), _model(SMALL, 9, 0.5)
    forward, reverse = tl.exact_kl(p, q).kl, tl.exact_kl(q, p).kl
    assert abs(forward - reverse) > 0.2
    assert abs(_brute_kl(q, p, SMALL) - reverse) < 1e-5
    ys = tl.sample(p, 20_000, torch.Generator().manual_seed(2))
    with torch.no_grad():
        lp, lq = tl.token_logp(p, ys)[0], tl.token_logp(q, ys)[0]
    right = tl.kl_estimate(lp, lq, "k1").sum(-1)
    swapped = tl.kl_estimate(lq, lp, "k1").sum(-1)
    se = float(right.std() / math.sqrt(len(right)))
    assert abs(float(right.mean()) - forward) < 5 * se
    assert abs(float(swapped.mean()) - reverse) > 20 * se and float(swapped.mean()) < 0


def test_shaped_rewards_sum_to_the_reward_minus_beta_times_the_k1_sum():
    g = torch.Generator().manual_seed(3)
    logp = -torch.rand(6, 5, generator=g) * 2
    logp_ref = -torch.rand(6, 5, generator=g) * 2
    reward = torch.randn(6, generator=g)
    beta = 0.3
    r = tl.shaped_rewards(logp, logp_ref, reward, beta)
    assert r.shape == (6, 5)
    torch.testing.assert_close(r.sum(-1), reward - beta * (logp - logp_ref).sum(-1))
    # before the last token only the penalty; the sequence reward arrives at the last token
    torch.testing.assert_close(r[:, :-1], -beta * (logp - logp_ref)[:, :-1])
    torch.testing.assert_close(tl.shaped_rewards(logp, logp_ref, reward, 0.0)[:, -1], reward)
    with pytest.raises(ValueError):
        tl.shaped_rewards(logp, logp_ref, reward, -0.1)


def test_shaped_penalty_is_beta_times_the_kl_on_samples_from_the_policy():
    p, q = _model(SMALL, 10, 3.0), _model(SMALL, 11, 1.0)
    ys = tl.sample(p, 20_000, torch.Generator().manual_seed(4))
    with torch.no_grad():
        lp, lq = tl.token_logp(p, ys)[0], tl.token_logp(q, ys)[0]
    beta = 0.5
    penalty = -tl.shaped_rewards(lp, lq, torch.zeros(len(ys)), beta).sum(-1)
    se = float(penalty.std() / math.sqrt(len(penalty)))
    assert abs(float(penalty.mean()) - beta * tl.exact_kl(p, q).kl) < 5 * se


def test_count_pattern_on_hand_cases():
    a, b, c, d = range(4)
    ys = torch.tensor([[a, b, a, b, a, b, a, b], [a, a, b, b, c, c, d, d], [b, b, b, b, b, b, b, b],
                       [b, a, c, a, d, a, b, c]])
    assert tl.count_pattern(ys).tolist() == [4.0, 1.0, 0.0, 1.0]
    assert tl.count_pattern(torch.tensor([[a, a, a, c]]), (a, a)).tolist() == [2.0]  # overlaps count
    assert tl.count_pattern(torch.tensor([[a]]), (a, b)).tolist() == [0.0]


def test_only_the_repeated_sequence_earns_the_maximum():
    spec = tl.LMSpec(vocab=4, length=8)
    ys = tl.enumerate_sequences(spec)
    R = tl.count_pattern(ys)
    best = ys[R == R.max()]
    assert R.max() == 4 and best.tolist() == [[0, 1] * 4]


def test_group_advantages_on_hand_numbers():
    R = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 0.0, 1.0]])
    A = tl.group_advantages(R, eps=1e-4)
    std = math.sqrt(1.25)  # population std of 1, 2, 3, 4
    torch.testing.assert_close(A[0], torch.tensor([-1.5, -0.5, 0.5, 1.5]) / (std + 1e-4))
    assert A[1].tolist() == [0.0, 0.0, 0.0, 0.0]  # all equal: no signal, and no 0/0
    torch.testing.assert_close(A.mean(-1), torch.zeros(3), atol=1e-6, rtol=0)
    for row in (0, 2):
        assert abs(float(A[row].std(correction=0)) - 1.0) < 1e-3
    # the one success of group 3 gets a large positive advantage, the failures a small negative one
    torch.testing.assert_close(A[2], torch.tensor([-1, -1, -1, 3]) / math.sqrt(3) / (1 + 1e-4 / math.sqrt(3 / 16)))
    with pytest.raises(ValueError):
        tl.group_advantages(R, eps=0.0)


def test_markov_corpus_follows_its_transition_matrix():
    ys = tl.markov_corpus(20_000, 6, torch.Generator().manual_seed(5))
    prev, nxt = ys[:, :-1].flatten(), ys[:, 1:].flatten()
    counts = torch.zeros(4, 4)
    counts.index_put_((prev, nxt), torch.ones(len(prev)), accumulate=True)
    freq = counts / counts.sum(1, keepdim=True)
    se = torch.sqrt(tl.REF_TRANSITIONS * (1 - tl.REF_TRANSITIONS) / counts.sum(1, keepdim=True))
    assert bool(((freq - tl.REF_TRANSITIONS).abs() < 5 * se).all())


def test_kl_regularised_optimum_attains_beta_log_z_and_beats_other_policies():
    spec = tl.LMSpec(vocab=3, length=4, context=1, embed=4, hidden=16)
    ref = _model(spec, 12, 2.0)
    reward = lambda ys: tl.count_pattern(ys, (0, 1))  # noqa: E731
    beta = 0.4
    er, kl = tl.kl_regularised_optimum(ref, beta, reward)
    ys = tl.enumerate_sequences(spec)
    with torch.no_grad():
        logq = tl.sequence_logp(ref, ys)
    # max_pi E[R] - beta KL(pi || pi_ref) = beta * log sum_y pi_ref(y) exp(R(y) / beta)
    assert abs((er - beta * kl) - beta * float(torch.logsumexp(logq + reward(ys) / beta, 0))) < 1e-5
    for seed in (13, 14):
        other = _model(spec, seed, 3.0)
        with torch.no_grad():
            lp = tl.sequence_logp(other, ys)
        objective = float((lp.exp() * (reward(ys) - beta * (lp - logq))).sum())
        assert objective < er - beta * kl
    assert float((logq.exp() * reward(ys)).sum()) < er  # the optimum earns more reward than the reference


def test_finetune_raises_the_reward_and_reproduces():
    spec = tl.LMSpec()
    torch.manual_seed(0)
    ref = tl.TinyLM(spec)
    tl.pretrain(ref, tl.markov_corpus(256, spec.length, torch.Generator().manual_seed(0)), steps=30, lr=2e-2)
    cfg = tl.FinetuneConfig(beta=0.5, updates=12, epochs=2, minibatches=1, lr=1e-2)
    _, stats = tl.finetune(ref, cfg, seed=1)
    _, again = tl.finetune(ref, cfg, seed=1)
    assert stats == again
    assert stats[0].kl_exact == 0.0  # the policy starts as a copy of the reference
    first, last = sum(s.reward for s in stats[:3]) / 3, sum(s.reward for s in stats[-3:]) / 3
    assert last > first + 0.2, (first, last)
    assert 0 < stats[-1].kl_exact < 5
    _, grpo = tl.finetune(ref, tl.FinetuneConfig(baseline="group", kl_in="loss", estimator="k3", updates=3), seed=1)
    assert len(grpo) == 3


def test_config_rejects_unknown_choices():
    with pytest.raises(ValueError, match="kl_in"):
        tl.FinetuneConfig(kl_in="advantage")
    with pytest.raises(ValueError, match="estimator"):
        tl.FinetuneConfig(estimator="k2")
    with pytest.raises(ValueError, match="baseline"):
        tl.FinetuneConfig(baseline="none")
