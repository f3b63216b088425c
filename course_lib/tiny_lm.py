"""RL fine-tuning of a tiny autoregressive policy: PPO with a KL penalty to a frozen reference, and GRPO.

The setting of RLHF (Ziegler et al. 2019; Ouyang et al. 2022), small enough for a laptop:

* a **policy** pi_theta(y_t | y_<t) over a vocabulary of ``V`` tokens (``a, b, c, d``) that writes sequences
  y = (y_0, ..., y_{T-1}) of fixed length T, starting from a BOS token. It is a neural k-gram model (Bengio et
  al. 2003): an embedding of the previous ``context`` tokens and of the position t, an MLP, logits over V. A
  second network of the same shape with one output is the **critic** V(y_<t) of the learned-baseline variant;
* a **reference** pi_ref: the policy pretrained by maximum likelihood on a corpus from a Markov chain, then
  frozen; fine-tuning starts from a copy of it;
* a **programmatic reward** R(y) on whole sequences (``count_pattern``: how often a pattern such as "ab"
  occurs), which the reference rarely earns and which a single repeated sequence maximises, so that without
  a KL term the policy collapses onto it;
* **PPO** (Schulman et al. 2017) with the KL to the reference either *in the reward*, per token with the k1
  estimate (Ziegler et al. 2019, eq. 2; Ouyang et al. 2022, eq. 2)::

      r_t = -beta * (log pi(y_t | y_<t) - log pi_ref(y_t | y_<t))  +  [t = T-1] * R(y)

  or *in the loss* as ``beta * k`` with k = k1 or k3 (Schulman 2020), as GRPO does with k3;
* **GRPO** (Shao et al. 2024): no critic; G samples per prompt, the advantage of every token of sample i is
  (R_i - mean_group R) / (std_group R + eps).

Because the policy sees only the last ``context`` tokens and the position, the distribution of a sampled
sequence is a Markov chain over (position, context), so the exact sequence KL and the exact per-token entropy
are computed by a forward pass over at most (V+1)^context contexts per position (``exact_kl``), for any T.
The chain rule KL(pi || pi_ref) over sequences = sum_t E_{y_<t ~ pi}[KL(pi(.|y_<t) || pi_ref(.|y_<t))] is what
makes that work; ``enumerate_sequences`` gives the brute-force value for short T (the tests compare them).

Shapes: B sequences of T tokens, token ids in [0, V), stored batch-first ``(B, T)`` as a language model does;
course_lib's GAE is time-major, so it gets ``(T, B)`` (the transpose).
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import nn
from torch.distributions import Categorical

from course_lib.advantages import gae
from course_lib.diagnostics import kl_exact, kl_k1, kl_k3
from course_lib.losses import ppo_clip_loss, value_loss
from course_lib.validation import check_non_negative, check_positive, check_positive_int, check_same_shape

__all__ = [
    "VOCAB", "LMSpec", "TinyLM", "contexts", "token_logp", "sequence_logp", "sample", "enumerate_sequences",
    "exact_kl", "ExactStats", "count_pattern", "markov_corpus", "REF_TRANSITIONS", "pretrain", "shaped_rewards",
    "group_advantages", "kl_estimate", "FinetuneConfig", "UpdateStats", "finetune", "kl_regularised_optimum",
]

VOCAB = ("a", "b", "c", "d")

# The corpus the reference learns from: a Markov chain over a, b, c, d in which "b after a" is rare (0.1), so the
# reward "count of ab" is rarely earned. Rows: previous token; columns: next token.
REF_TRANSITIONS = torch.tensor([
    [0.30, 0.10, 0.30, 0.30],
    [0.25, 0.25, 0.25, 0.25],
    [0.35, 0.15, 0.25, 0.25],
    [0.25, 0.25, 0.30, 0.20],
])


@dataclass(frozen=True)
class LMSpec:
    """Sizes of the tiny language model.

    vocab: V, number of tokens (BOS = V is an extra input-only token).
    length: T, tokens per sequence (fixed; no end token).
    context: k, how many previous tokens the model sees (missing ones are BOS).
    embed: size of each token / position embedding.
    hidden: width of the MLP's hidden layer.
    """

    vocab: int = 4
    length: int = 8
    context: int = 2
    embed: int = 8
    hidden: int = 64

    def __post_init__(self) -> None:
        for name in ("vocab", "length", "context", "embed", "hidden"):
            check_positive_int(name, getattr(self, name))

    @property
    def bos(self) -> int:
        return self.vocab


class TinyLM(nn.Module):
    """A neural k-gram model: [emb(y_{t-k}), ..., emb(y_{t-1}), emb_pos(t)] -> tanh MLP -> ``out`` numbers.

    With ``out = spec.vocab`` it is the policy (logits of pi(y_t | y_<t)); with ``out = 1`` the critic V(y_<t).
    forward(ctx (..., k) long, pos (...,) long) -> (..., out), or (...,) when out == 1.
    """

    def __init__(self, spec: LMSpec, out: int | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.out = spec.vocab if out is None else out
        self.tok = nn.Embedding(spec.vocab + 1, spec.embed)
        self.pos = nn.Embedding(spec.length, spec.embed)
        self.mlp = nn.Sequential(nn.Linear((spec.context + 1) * spec.embed, spec.hidden), nn.Tanh(),
                                 nn.Linear(spec.hidden, self.out))

    def forward(self, ctx: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.tok(ctx).flatten(-2), self.pos(pos)], dim=-1)
        y = self.mlp(x)
        return y.squeeze(-1) if self.out == 1 else y


def contexts(tokens: torch.Tensor, spec: LMSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's inputs at every position: ctx[b, t] = (y_{t-k}, ..., y_{t-1}) with BOS before the start.

    tokens (B, T) long -> ctx (B, T, k) long, pos (B, T) long.
    """
    B, T = tokens.shape
    padded = torch.cat([torch.full((B, spec.context), spec.bos, dtype=torch.long), tokens], dim=1)
    ctx = torch.stack([padded[:, j:j + T] for j in range(spec.context)], dim=-1)
    pos = torch.arange(T).expand(B, T)
    return ctx, pos


def token_logp(model: TinyLM, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log pi(y_t | y_<t) of the given tokens and the entropy of pi(. | y_<t), at every position.

    tokens (B, T) long -> (logp (B, T), entropy (B, T)); differentiable w.r.t. the model.
    """
    ctx, pos = contexts(tokens, model.spec)
    logits = torch.log_softmax(model(ctx, pos), dim=-1)  # (B, T, V)
    logp = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    # H(pi(.|y_<t)) = -sum_v pi(v) log pi(v)
    entropy = -(logits.exp() * logits).sum(-1)
    return logp, entropy


def sequence_logp(model: TinyLM, tokens: torch.Tensor) -> torch.Tensor:
    """log pi(y) = sum_t log pi(y_t | y_<t) (the chain rule of probability). tokens (B, T) -> (B,)."""
    return token_logp(model, tokens)[0].sum(-1)


@torch.no_grad()
def sample(model: TinyLM, n: int, generator: torch.Generator) -> torch.Tensor:
    """Draw n sequences y ~ pi token by token from BOS. Returns tokens (n, T) long."""
    spec = model.spec
    tokens = torch.empty(n, spec.length, dtype=torch.long)
    ctx = torch.full((n, spec.context), spec.bos, dtype=torch.long)
    for t in range(spec.length):
        probs = torch.softmax(model(ctx, torch.full((n,), t, dtype=torch.long)), dim=-1)
        # y_t ~ pi(. | y_<t)
        tokens[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        ctx = torch.cat([ctx[:, 1:], tokens[:, t:t + 1]], dim=1)
    return tokens


def enumerate_sequences(spec: LMSpec) -> torch.Tensor:
    """Every sequence of the spec's length, (V**T, T) long: brute force, for tests and short T only."""
    if spec.vocab ** spec.length > 2 ** 20:
        raise ValueError(f"V**T = {spec.vocab ** spec.length} sequences is too many to enumerate; use T <= 10")
    return torch.tensor(list(itertools.product(range(spec.vocab), repeat=spec.length)), dtype=torch.long)


class ExactStats(NamedTuple):
    """Exact quantities of pi's sequence distribution, from the forward pass over contexts.

    kl: KL(pi || pi_ref) of whole sequences (a float).
    kl_per_position: (T,) E_{y_<t ~ pi}[KL(pi(.|y_<t) || pi_ref(.|y_<t))]; sums to ``kl`` (chain rule).
    entropy: mean over positions of E_{y_<t ~ pi}[H(pi(.|y_<t))], nats per token.
    """

    kl: float
    kl_per_position: torch.Tensor
    entropy: float


@torch.no_grad()
def exact_kl(policy: TinyLM, ref: TinyLM) -> ExactStats:
    """KL(pi || pi_ref) between the two models' sequence distributions, exactly.

    The models see only (context, position), so y_<t matters only through its last k tokens: with q_t(c) the
    probability under pi that the context at position t is c (q_0 = BOS...BOS),
        KL_t = sum_c q_t(c) KL(pi(.|c, t) || pi_ref(.|c, t)),    q_{t+1}(c') = sum_{c, v: shift(c, v) = c'}
        q_t(c) pi(v|c, t),   and   KL(pi || pi_ref) = sum_t KL_t   (chain rule).
    Cost: T * (V+1)**k evaluations of each model.
    """
    spec = policy.spec
    V, k, T = spec.vocab, spec.context, spec.length
    ctxs = torch.tensor(list(itertools.product(range(V + 1), repeat=k)), dtype=torch.long)  # (C, k)
    C = ctxs.shape[0]
    # index of shift(c, v) = (c_2, ..., c_k, v) in ctxs
    weights = (V + 1) ** torch.arange(k - 1, -1, -1)
    nxt = torch.cat([ctxs[:, 1:].unsqueeze(1).expand(C, V, k - 1),
                     torch.arange(V).view(1, V, 1).expand(C, V, 1)], dim=-1)  # (C, V, k)
    nxt_index = (nxt * weights).sum(-1)  # (C, V)
    pos = torch.arange(T).view(T, 1).expand(T, C)
    logp = torch.log_softmax(policy(ctxs.expand(T, C, k), pos), -1)  # (T, C, V)
    logq = torch.log_softmax(ref(ctxs.expand(T, C, k), pos), -1)
    p = logp.exp()
    # (T, C): KL(pi(.|c,t) || pi_ref(.|c,t)) = sum_v pi(v|c,t) (log pi(v|c,t) - log pi_ref(v|c,t))
    kl_ctx = kl_exact(Categorical(logits=logp.reshape(T * C, V)), Categorical(logits=logq.reshape(T * C, V)))
    kl_ctx = kl_ctx.reshape(T, C)
    ent_ctx = -(p * logp).sum(-1)
    q = torch.zeros(C)
    q[int((torch.full((k,), V) * weights).sum())] = 1.0  # BOS ... BOS
    kl_t, ent_t = torch.empty(T), torch.empty(T)
    for t in range(T):
        # KL_t = sum_c q_t(c) KL(pi(.|c,t) || pi_ref(.|c,t))
        kl_t[t] = (q * kl_ctx[t]).sum()
        ent_t[t] = (q * ent_ctx[t]).sum()
        # q_{t+1}(c') = sum_{c, v -> c'} q_t(c) pi(v | c, t)
        q = torch.zeros(C).index_add_(0, nxt_index.flatten(), (q.unsqueeze(1) * p[t]).flatten())
    return ExactStats(float(kl_t.sum()), kl_t, float(ent_t.mean()))


def count_pattern(tokens: torch.Tensor, pattern: tuple[int, ...] = (0, 1)) -> torch.Tensor:
    """R(y): how many times ``pattern`` occurs in y (overlaps counted). tokens (B, T) -> (B,) float.

    With the default pattern "ab" and T = 8, R is at most 4, reached only by "abababab".
    """
    m = len(pattern)
    B, T = tokens.shape
    if T < m:
        return torch.zeros(B)
    hits = torch.ones(B, T - m + 1, dtype=torch.bool)
    for j, tok in enumerate(pattern):
        hits &= tokens[:, j:T - m + 1 + j] == tok
    return hits.sum(-1).to(torch.get_default_dtype())


def markov_corpus(n: int, length: int, generator: torch.Generator,
                  transitions: torch.Tensor = REF_TRANSITIONS) -> torch.Tensor:
    """n sequences from a Markov chain: y_0 uniform, y_t ~ transitions[y_{t-1}]. Returns (n, length) long."""
    V = transitions.shape[0]
    out = torch.empty(n, length, dtype=torch.long)
    out[:, 0] = torch.randint(V, (n,), generator=generator)
    for t in range(1, length):
        out[:, t] = torch.multinomial(transitions[out[:, t - 1]], 1, generator=generator).squeeze(-1)
    return out


def pretrain(model: TinyLM, corpus: torch.Tensor, steps: int = 300, lr: float = 1e-2) -> list[float]:
    """Maximum likelihood on the corpus (full batch, Adam): minimise -mean_t log pi(y_t | y_<t).

    corpus (N, T) long. Returns the loss (nats per token) after each step. Trains ``model`` in place.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        # L_MLE = -E_{y ~ corpus}[(1/T) sum_t log pi(y_t | y_<t)]
        loss = -token_logp(model, corpus)[0].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def shaped_rewards(logp: torch.Tensor, logp_ref: torch.Tensor, reward: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-token rewards with the KL penalty (Ziegler et al. 2019; Ouyang et al. 2022).

        r_t = -beta * k1_t + [t = T-1] * R(y),    k1_t = log pi(y_t|y_<t) - log pi_ref(y_t|y_<t)

    Tokens y were sampled from pi, so sum_t k1_t is an unbiased estimate of KL(pi || pi_ref) for the sequence,
    and sum_t r_t = R(y) - beta * sum_t k1_t.

    logp, logp_ref: (B, T) log-probabilities of the sampled tokens under pi (at sampling time) and pi_ref.
    reward: (B,) sequence rewards R(y). beta >= 0. Returns (B, T), no gradient.
    """
    check_same_shape("logp", logp, "logp_ref", logp_ref)
    beta = check_non_negative("beta", beta)
    # k1_t = log pi(y_t|y_<t) - log pi_ref(y_t|y_<t): KL(pi || pi_ref) estimated from y ~ pi
    k1 = kl_k1(logp.detach(), logp_ref.detach())
    # r_t = -beta * k1_t, plus R(y) at the last token
    r = -beta * k1
    r[:, -1] += reward
    return r


def group_advantages(reward: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """GRPO's group-relative advantage (Shao et al. 2024, outcome supervision).

        A_i = (R_i - mean_g R) / (std_g R + eps)

    reward: (n_groups, G) rewards of G samples of the same prompt per row. std is the population standard
    deviation (divides by G). eps > 0 keeps a group whose rewards are all equal finite: its advantages are 0
    (no signal), not 0/0; for a group with std >> eps the advantages have mean 0 and standard deviation ~1.
    Returns (n_groups, G); every token of sample i gets A_i.
    """
    eps = check_positive("eps", eps)
    mean = reward.mean(-1, keepdim=True)
    std = reward.std(-1, keepdim=True, correction=0)
    # A_i = (R_i - mean) / (std + eps)
    return (reward - mean) / (std + eps)


@dataclass(frozen=True)
class FinetuneConfig:
    """How to fine-tune.

    beta: weight of the KL to the reference (0: no KL term at all).
    kl_in: "reward" (per-token penalty in the reward, Ziegler et al. 2019) or "loss" (a loss term beta * k, as
        GRPO does).
    estimator: "k1" (log pi - log pi_ref) or "k3" ((r - 1) - log r with r = pi_ref / pi), per token.
    baseline: "value" (a critic and GAE, PPO) or "group" (GRPO: group mean and std, no critic).
    updates: number of PPO updates; each samples ``batch`` = n_groups * group_size fresh sequences.
    group_size: G, samples per group (all groups share the one prompt, BOS, here).
    epochs, minibatches: passes over each batch and minibatches per pass.
    lr: Adam learning rate of policy and critic. clip_eps: PPO's clip. gamma, lam: GAE's (gamma = 1: the
        sequence reward is not discounted). vf_coef: c_1 of the critic's loss.
    """

    beta: float = 0.5
    kl_in: str = "reward"
    estimator: str = "k1"
    baseline: str = "value"
    updates: int = 60
    n_groups: int = 4
    group_size: int = 16
    epochs: int = 4
    minibatches: int = 2
    lr: float = 3e-3
    clip_eps: float = 0.2
    gamma: float = 1.0
    lam: float = 0.95
    vf_coef: float = 0.5

    def __post_init__(self) -> None:
        check_non_negative("beta", self.beta)
        for name, allowed in (("kl_in", ("reward", "loss")), ("estimator", ("k1", "k3")),
                              ("baseline", ("value", "group"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("updates", "n_groups", "group_size", "epochs", "minibatches"):
            check_positive_int(name, getattr(self, name))

    @property
    def batch(self) -> int:
        return self.n_groups * self.group_size


class UpdateStats(NamedTuple):
    """Diagnostics of one update, measured on the batch sampled at its start (before the update).

    reward: mean R(y) of the batch. kl_exact: KL(pi || pi_ref) of sequences, exact. kl_k1, kl_k3: batch means of
    the per-sequence sums of k1 and k3 (estimates of kl_exact). distinct: number of different sequences in the
    batch. entropy: exact mean per-token entropy of pi (nats). adv_var: variance of the advantages before any
    normalisation, per token (reward units squared).
    """

    reward: float
    kl_exact: float
    kl_k1: float
    kl_k3: float
    distinct: int
    entropy: float
    adv_var: float


def kl_estimate(logp: torch.Tensor, logp_ref: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from tokens sampled from pi. (B, T) -> (B, T).

    k1 = log pi - log pi_ref;  k3 = (r - 1) - log r with r = pi_ref / pi (course_lib.diagnostics, with pi in
    the role of the sampling distribution ``old`` and pi_ref in that of ``new``).
    """
    return kl_k1(logp, logp_ref) if estimator == "k1" else kl_k3(logp, logp_ref)


def finetune(ref: TinyLM, cfg: FinetuneConfig, seed: int,
             reward_fn: Callable[[torch.Tensor], torch.Tensor] = count_pattern,
             on_update: Callable[[int, UpdateStats], None] | None = None) -> tuple[TinyLM, list[UpdateStats]]:
    """Fine-tune a copy of ``ref`` to maximise E[R(y)] - beta KL(pi || pi_ref). Returns (policy, stats per update).

    Per update: sample B = n_groups * G sequences from pi_old (the policy at the start of the update); score them
    (shaped per-token rewards and GAE with the critic, or group-relative advantages); then ``epochs`` passes of
    ``minibatches`` minibatches of whole sequences with PPO's clipped loss, plus beta * k per token when
    ``kl_in == "loss"`` and c_1 * the critic's loss when ``baseline == "value"``.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    spec = ref.spec
    policy = copy.deepcopy(ref).requires_grad_(True)  # pi_theta starts at pi_ref; pi_ref is only read
    params = list(policy.parameters())
    critic = None
    if cfg.baseline == "value":
        critic = TinyLM(spec, out=1)
        params += list(critic.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    B, T = cfg.batch, spec.length
    beta_reward = cfg.beta if cfg.kl_in == "reward" else 0.0
    beta_loss = cfg.beta if cfg.kl_in == "loss" else 0.0
    stats: list[UpdateStats] = []
    for update in range(cfg.updates):
        policy.eval()
        tokens = sample(policy, B, gen)  # (B, T), y ~ pi_old
        with torch.no_grad():
            logp_old, _ = token_logp(policy, tokens)
            logp_ref, _ = token_logp(ref, tokens)
            R = reward_fn(tokens)  # (B,)
            k1_seq = kl_k1(logp_old, logp_ref).sum(-1)
            k3_seq = kl_k3(logp_old, logp_ref).sum(-1)
            if cfg.baseline == "value":
                ctx, pos = contexts(tokens, spec)
                values = critic(ctx, pos)  # (B, T): V(y_<t)
                if cfg.kl_in == "reward":
                    r = shaped_rewards(logp_old, logp_ref, R, beta_reward)
                    if cfg.estimator == "k3":  # the k3 estimate in the reward instead of k1
                        r = -beta_reward * kl_k3(logp_old, logp_ref)
                        r[:, -1] += R
                else:
                    r = torch.zeros(B, T)
                    r[:, -1] = R
                # time-major (T, B) for GAE: V(y_<T) after the last token is 0 and the episode terminates there
                next_values = torch.cat([values[:, 1:], torch.zeros(B, 1)], dim=1)
                terminated = torch.zeros(B, T)
                terminated[:, -1] = 1.0
                est = gae(r.T, values.T, next_values.T, terminated.T, torch.zeros(T, B), cfg.gamma, cfg.lam)
                adv, ret = est.advantages.T, est.returns.T  # (B, T)
                adv_raw_var = float(adv.var(correction=0))
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            else:
                # GRPO: A_i = (R_i - mean_g) / (std_g + eps), the same for every token of sample i
                centred = R.view(cfg.n_groups, cfg.group_size)
                adv_raw_var = float((centred - centred.mean(-1, keepdim=True)).var(correction=0))
                adv = group_advantages(centred).reshape(B, 1).expand(B, T).contiguous()
                ret = None
        ex = exact_kl(policy, ref)
        row = UpdateStats(float(R.mean()), ex.kl, float(k1_seq.mean()), float(k3_seq.mean()),
                          len({tuple(s) for s in tokens.tolist()}), ex.entropy, adv_raw_var)
        stats.append(row)
        if on_update is not None:
            on_update(update, row)
        policy.train()
        mb = B // cfg.minibatches
        for _ in range(cfg.epochs):
            perm = torch.randperm(B)
            for start in range(0, B, mb):
                idx = perm[start:start + mb]
                logp, _ = token_logp(policy, tokens[idx])
                loss, _ = ppo_clip_loss(logp.flatten(), logp_old[idx].flatten(), adv[idx].flatten(), cfg.clip_eps)
                if beta_loss > 0:
                    # + beta * mean_t k_t(pi_theta, pi_ref), tokens from pi_old (GRPO's KL term with k3)
                    loss = loss + beta_loss * kl_estimate(logp, logp_ref[idx], cfg.estimator).mean()
                if critic is not None:
                    ctx, pos = contexts(tokens[idx], spec)
                    loss = loss + cfg.vf_coef * value_loss(critic(ctx, pos).flatten(), ret[idx].flatten())
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
    policy.eval()
    return policy, stats


@torch.no_grad()
def kl_regularised_optimum(ref: TinyLM, beta: float,
                           reward_fn: Callable[[torch.Tensor], torch.Tensor] = count_pattern) -> tuple[float, float]:
    """The best any policy can do on E[R] - beta KL(pi || pi_ref), by enumerating every sequence.

        pi*(y) = pi_ref(y) exp(R(y) / beta) / Z        (the maximiser; e.g. Rafailov et al. 2023, eq. 4)
    Returns (E_{pi*}[R], KL(pi* || pi_ref)). beta > 0; the spec's V**T must be enumerable.
    """
    beta = check_positive("beta", beta)
    ys = enumerate_sequences(ref.spec)
    logq = sequence_logp(ref, ys)
    R = reward_fn(ys)
    # log pi*(y) = log pi_ref(y) + R(y) / beta - log Z
    logp = torch.log_softmax(logq + R / beta, dim=0)
    p = logp.exp()
    return float((p * R).sum()), float((p * (logp - logq)).sum())
