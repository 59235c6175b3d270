"""GMM statistics and updates in numpy: Kaldi's gmm-acc-stats-ali, gmm-est (MLE, mixing up) and transition updates.

* :func:`accumulate_gmm_stats` — ``gmm-acc-stats-ali``: per Gaussian the
  occupancy, Σγx and Σγx², and per transition-id the count, from transition-id
  alignments. Frames are sorted by pdf and each pdf's frames are scored against
  its Gaussians with one matrix product (no per-frame Python), in chunks.
* :func:`update_gmms` — ``MleDiagGmmUpdate`` with Kaldi's options
  (min Gaussian occupancy 10, weight 1e-5, variance floor 0.001; Gaussians
  with too little data are removed, but never a pdf's last one).
* :func:`mix_up` — ``AmDiagGmm::SplitByCount``: a Gaussian budget shared
  among pdfs in proportion to ``occupancy ** power``, each pdf splitting its
  heaviest component with means perturbed by ``perturb_factor`` standard deviations.
* :func:`update_transitions` — ``TransitionModel::MleUpdate`` (floor 0.01, min count 5).
* :func:`log_likelihoods` — per-frame, per-pdf GMM log-likelihoods (a score
  matrix for :func:`blasr.kaldi.gmm.align.align_with_log_likelihoods`).

Models are :class:`blasr.kaldi.formats.gmm.AmDiagGmm` (Kaldi's parametrisation:
weights, means × inverse variances, inverse variances), stored as float32 as
Kaldi stores them; statistics are float64.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from blasr.kaldi.formats.gmm import AmDiagGmm, DiagGmm
from blasr.kaldi.formats.model import TransitionModel
from blasr.utils.jobs import job_progress


@dataclass(eq=False)
class GmmStats:
    """Kaldi's ``AccumAmDiagGmm`` plus transition counts, with all Gaussians in one flat array.

    Gaussians of pdf ``j`` are rows ``offsets[j]:offsets[j + 1]``.
    ``log_likelihood`` is the total over ``num_frames`` frames under the model
    that was used (what gmm-est prints as "avg like per frame").
    """

    offsets: np.ndarray  # (num_pdfs + 1,)
    occupancy: np.ndarray  # (G,)
    mean_acc: np.ndarray  # (G, D)
    var_acc: np.ndarray  # (G, D)
    transition_counts: np.ndarray  # (num_transition_ids + 1,)
    log_likelihood: float = 0.0
    num_frames: int = 0

    @property
    def pdf_occupancy(self) -> np.ndarray:
        return np.add.reduceat(self.occupancy, self.offsets[:-1]) if len(self.occupancy) else np.zeros(0)

    def add(self, other: "GmmStats") -> "GmmStats":
        """Sum statistics of the same model (Kaldi's ``gmm-sum-accs``)."""
        if not np.array_equal(self.offsets, other.offsets):
            raise ValueError("statistics of different models cannot be added")
        return GmmStats(
            self.offsets,
            self.occupancy + other.occupancy,
            self.mean_acc + other.mean_acc,
            self.var_acc + other.var_acc,
            self.transition_counts + other.transition_counts,
            self.log_likelihood + other.log_likelihood,
            self.num_frames + other.num_frames,
        )


@dataclass
class _FlatModel:
    """All Gaussians in flat arrays; row ``w`` of ``weights`` is ``[μ/σ², -1/(2σ²)]`` so that
    ``[x, x²] · w + gconst`` is the Gaussian's log-likelihood (Kaldi's ``DiagGmm::LogLikelihoods``).
    float32, as the model is stored."""

    offsets: np.ndarray  # (num_pdfs + 1,)
    num_gauss: np.ndarray  # (num_pdfs,)
    weights: np.ndarray  # (G, 2D) float32
    gconsts: np.ndarray  # (G,) float32

    @classmethod
    def of(cls, model: AmDiagGmm) -> "_FlatModel":
        num_gauss = np.array([g.num_gauss for g in model.pdfs])
        offsets = np.concatenate([[0], np.cumsum(num_gauss)])
        dim = model.dim
        weights = np.empty((int(offsets[-1]), 2 * dim), dtype=np.float32)
        weights[:, :dim] = np.concatenate([g.means_invvars for g in model.pdfs])
        weights[:, dim:] = np.concatenate([g.inv_vars for g in model.pdfs])
        weights[:, dim:] *= -0.5
        gconsts = np.concatenate([g.gconsts for g in model.pdfs]).astype(np.float32)
        return cls(offsets, num_gauss, weights, gconsts)


def _accumulate_chunk(
    flat: _FlatModel, frames: np.ndarray, pdfs: np.ndarray, occupancy: np.ndarray, acc: np.ndarray
) -> float:
    """Add one chunk's Gaussian statistics to ``occupancy`` (G,) and ``acc`` (G, 2D: Σγx, Σγx²); returns Σ log p(x).

    Frames are sorted by pdf. Pdfs with one Gaussian need no posteriors. The
    others are scored in batches: pdfs with a similar number of frames (padded
    to a power of two) and the same number of Gaussians go through one batched
    matrix product, so the Python work is per batch, not per pdf or frame.
    """
    order = np.argsort(pdfs, kind="stable")
    sorted_pdfs = pdfs[order]
    num_frames, dim = frames.shape
    # (F + 1, 2D): [x, x²] in float32 as Kaldi scores frames; a zero row at the end for padding.
    data = np.zeros((num_frames + 1, 2 * dim), dtype=np.float32)
    data[:num_frames, :dim] = frames[order]
    np.square(data[:num_frames, :dim], out=data[:num_frames, dim:])
    starts = np.flatnonzero(np.r_[True, np.diff(sorted_pdfs) != 0])
    lengths = np.diff(np.r_[starts, num_frames])
    group_pdf = sorted_pdfs[starts]
    group_gauss = flat.num_gauss[group_pdf]
    total = 0.0

    single = np.repeat(group_gauss == 1, lengths)
    if single.any():
        rows = flat.offsets[sorted_pdfs[single]]
        block = data[:num_frames][single].astype(np.float64)
        scores = np.einsum("fd,fd->f", block, flat.weights[rows].astype(np.float64)) + flat.gconsts[rows]
        total += float(scores.sum())
        first = np.flatnonzero(np.r_[True, np.diff(rows) != 0])
        occupancy[rows[first]] += np.diff(np.r_[first, len(rows)])
        acc[rows[first]] += np.add.reduceat(block, first, axis=0)

    multi = np.flatnonzero(group_gauss > 1)
    padded = 1 << np.ceil(np.log2(np.maximum(lengths[multi], 1))).astype(np.int64)
    buckets: dict[tuple[int, int], list[int]] = {}
    for group, size in zip(multi.tolist(), padded.tolist()):
        buckets.setdefault((size, int(group_gauss[group])), []).append(group)
    for (size, num_gauss), groups in buckets.items():
        groups = np.array(groups)
        per_batch = max(1, 32768 // size)  # bounds the padded block to ~32k frames
        for b in range(0, len(groups), per_batch):
            batch = groups[b : b + per_batch]
            steps = np.arange(size)
            valid = steps[None, :] < lengths[batch][:, None]  # (B, n)
            rows = np.where(valid, starts[batch][:, None] + steps[None, :], num_frames)
            block = data[rows]  # (B, n, 2D)
            gauss = flat.offsets[group_pdf[batch]][:, None] + np.arange(num_gauss)[None, :]  # (B, G)
            weights = flat.weights[gauss]  # (B, G, 2D)
            scores = block @ weights.transpose(0, 2, 1) + flat.gconsts[gauss][:, None, :]  # (B, n, G)
            top = scores.max(axis=2, keepdims=True)
            # exp(-80) is still a normal float32: no denormals (which are very slow), error < 1e-34.
            posteriors = np.exp(np.maximum(scores - top, -80.0))
            norm = posteriors.sum(axis=2, keepdims=True)
            posteriors *= valid[:, :, None] / norm
            total += float(((top + np.log(norm))[..., 0] * valid).sum(dtype=np.float64))
            occupancy[gauss] += posteriors.sum(axis=1, dtype=np.float64)
            acc[gauss] += posteriors.transpose(0, 2, 1) @ block  # float32 within a batch, float64 across
    return total


def accumulate_gmm_stats(
    transition_model: TransitionModel,
    acoustic_model: AmDiagGmm,
    alignments: Mapping[str, np.ndarray],
    features: Mapping[str, np.ndarray],
    chunk_frames: int = 500_000,
) -> GmmStats:
    """Kaldi's ``gmm-acc-stats-ali``: EM statistics of every Gaussian, given transition-id alignments.

    ``features[utt]`` is ``(frames, dim)``; its alignment must have as many
    frames (else an error naming the utterance). Utterances are processed in
    chunks of about ``chunk_frames`` frames.
    """
    if acoustic_model.num_pdfs != transition_model.num_pdfs:
        raise ValueError(
            f"the GMMs have {acoustic_model.num_pdfs} pdfs, the transition model {transition_model.num_pdfs}"
        )
    flat = _FlatModel.of(acoustic_model)
    dim = acoustic_model.dim
    total_gauss = int(flat.offsets[-1])
    acc = np.zeros((total_gauss, 2 * dim))  # [Σγx, Σγx²]; the statistics hold views of its halves
    stats = GmmStats(
        flat.offsets,
        np.zeros(total_gauss),
        acc[:, :dim],
        acc[:, dim:],
        np.zeros(transition_model.num_transition_ids + 1),
    )
    chunk: list[tuple[np.ndarray, np.ndarray]] = []
    chunk_size = 0

    def flush():
        nonlocal chunk, chunk_size
        if not chunk:
            return
        frames = np.concatenate([f for f, _ in chunk])
        tids = np.concatenate([a for _, a in chunk])
        stats.transition_counts += np.bincount(tids, minlength=len(stats.transition_counts))
        stats.log_likelihood += _accumulate_chunk(flat, frames, transition_model.pdf[tids], stats.occupancy, acc)
        stats.num_frames += len(frames)
        chunk, chunk_size = [], 0

    for utterance, alignment in job_progress(alignments.items(), "accumulate", total=len(alignments)):
        frames = np.asarray(features[utterance])
        alignment = np.asarray(alignment, dtype=np.int64)
        if frames.ndim != 2 or frames.shape[1] != dim:
            raise ValueError(
                f"utterance {utterance!r}: features of shape {frames.shape}, the GMMs have dimension {dim}"
            )
        if len(frames) != len(alignment):
            raise ValueError(
                f"utterance {utterance!r}: {len(alignment)} alignment frames but {len(frames)} feature frames"
            )
        transition_model._check_ids(alignment, f"utterance {utterance!r}: ")
        chunk.append((frames, alignment))
        chunk_size += len(frames)
        if chunk_size >= chunk_frames:
            flush()
    flush()
    return stats


def log_likelihoods(acoustic_model: AmDiagGmm, frames: np.ndarray, pdfs: Sequence[int] | None = None) -> np.ndarray:
    """``(frames, num_pdfs)``: the log-likelihood of every frame under every pdf's GMM (log-sum-exp over Gaussians).

    With ``pdfs``, only those columns are computed (the others are -inf): the
    pdfs of an utterance's graph are all its alignment needs.
    """
    data = np.asarray(frames, dtype=np.float64)
    data = np.concatenate([data, data**2], axis=1)
    wanted = range(acoustic_model.num_pdfs) if pdfs is None else sorted(set(int(p) for p in pdfs))
    result = np.full((len(data), acoustic_model.num_pdfs), -np.inf)
    for pdf in wanted:
        gmm = acoustic_model.pdfs[pdf]
        weights = np.concatenate([gmm.means_invvars, -0.5 * gmm.inv_vars], axis=1).astype(np.float64)
        block = data @ weights.T + gmm.gconsts.astype(np.float64)  # (T, G)
        top = block.max(axis=1)
        result[:, pdf] = top + np.log(np.exp(block - top[:, None]).sum(axis=1))
    return result


@dataclass
class MleOptions:
    """Kaldi's ``MleDiagGmmOptions`` (gmm-est defaults)."""

    min_gaussian_weight: float = 1.0e-5
    min_gaussian_occupancy: float = 10.0
    min_variance: float = 0.001
    remove_low_count_gaussians: bool = True


@dataclass
class UpdateReport:
    """What an update changed: objective gain (log-likelihood per frame), floored and removed Gaussians."""

    objf_change_per_frame: float
    num_frames: float
    floored_gaussians: int
    removed_gaussians: int


def _ml_objective(weights, means_invvars, inv_vars, gconsts, occupancy, mean_acc, var_acc) -> float:
    # Kaldi's MlObjective: Σ_g occ·gconst + mean_acc·(μ/σ²) - ½ var_acc·(1/σ²).
    return float(
        occupancy @ gconsts
        + np.einsum("gd,gd->", mean_acc, means_invvars)
        - 0.5 * np.einsum("gd,gd->", var_acc, inv_vars)
    )


def update_gmms(model: AmDiagGmm, stats: GmmStats, options: MleOptions | None = None) -> tuple[AmDiagGmm, UpdateReport]:
    """Kaldi's ``MleAmDiagGmmUpdate`` (weights, means and variances): a new model, and what changed."""
    options = options or MleOptions()
    if len(stats.offsets) != model.num_pdfs + 1 or stats.offsets[-1] != model.num_gauss:
        raise ValueError("the statistics were accumulated with a different model")
    pdfs, objf_change, floored_total, removed_total = [], 0.0, 0, 0
    for pdf, gmm in enumerate(model.pdfs):
        g0, g1 = int(stats.offsets[pdf]), int(stats.offsets[pdf + 1])
        occ = stats.occupancy[g0:g1]
        mean_acc, var_acc = stats.mean_acc[g0:g1], stats.var_acc[g0:g1]
        total = occ.sum()
        prob = occ / total if total > 0 else np.full(len(occ), 1.0 / len(occ))
        old = _ml_objective(
            gmm.weights.astype(np.float64),
            gmm.means_invvars.astype(np.float64),
            gmm.inv_vars.astype(np.float64),
            gmm.gconsts.astype(np.float64),
            occ,
            mean_acc,
            var_acc,
        )
        weights = gmm.weights.astype(np.float64).copy()
        means = gmm.means.astype(np.float64)
        variances = gmm.variances.astype(np.float64)
        update = (occ > options.min_gaussian_occupancy) & (prob > options.min_gaussian_weight)
        safe = np.where(update, occ, 1.0)[:, None]
        new_means = mean_acc / safe
        new_vars = var_acc / safe - new_means**2
        floored = new_vars < options.min_variance
        new_vars = np.maximum(new_vars, options.min_variance)
        weights[update] = prob[update]
        means[update], variances[update] = new_means[update], new_vars[update]
        floored_total += int(floored[update].any(axis=1).sum())
        remove = []
        for g in np.flatnonzero(~update).tolist():
            if options.remove_low_count_gaussians and len(remove) < len(occ) - 1:
                remove.append(g)
            else:
                weights[g] = max(prob[g], options.min_gaussian_weight)
        new = DiagGmm.from_means_and_variances(weights, means, variances)
        objf_change += (
            _ml_objective(
                new.weights.astype(np.float64),
                new.means_invvars.astype(np.float64),
                new.inv_vars.astype(np.float64),
                new.gconsts.astype(np.float64),
                occ,
                mean_acc,
                var_acc,
            )
            - old
        )
        if remove:
            keep = np.setdiff1d(np.arange(len(occ)), remove)
            kept = weights[keep] / weights[keep].sum()
            new = DiagGmm.from_means_and_variances(kept, means[keep], variances[keep])
            removed_total += len(remove)
        pdfs.append(new)
    count = float(stats.occupancy.sum())
    report = UpdateReport(objf_change / count if count else 0.0, count, floored_total, removed_total)
    return AmDiagGmm(pdfs), report


def split_targets(pdf_occupancy: np.ndarray, target: int, power: float, min_count: float) -> np.ndarray:
    """Kaldi's ``GetSplitTargets``: Gaussians per pdf for a total of ``target``, by ``occupancy ** power``.

    Starting from one per pdf, the next Gaussian goes to the pdf with the most
    ``occupancy ** power`` per Gaussian, unless that would leave fewer than
    ``min_count`` frames per Gaussian (then that pdf gets no more).
    """
    occ = np.asarray(pdf_occupancy, dtype=np.float64)
    targets = np.ones(len(occ), dtype=np.int64)
    priority = occ**power
    # A max-heap of priority / components (Kaldi's priority queue of CountStats).
    heap = [(-p, i) for i, p in enumerate(priority.tolist())]
    heapq.heapify(heap)
    num_gauss = len(occ)
    while num_gauss < target and heap:
        neg, pdf = heapq.heappop(heap)
        if -neg == 0:
            break
        if (targets[pdf] + 1) * min_count >= occ[pdf]:
            continue  # min-count would be violated: this pdf stays as it is
        targets[pdf] += 1
        num_gauss += 1
        heapq.heappush(heap, (-priority[pdf] / targets[pdf], pdf))
    return targets


def split_gmm(gmm: DiagGmm, target: int, perturb_factor: float, rng: np.random.Generator) -> DiagGmm:
    """Kaldi's ``DiagGmm::Split``: split the heaviest component until ``target`` components."""
    weights = list(gmm.weights.astype(np.float64))
    means_invvars = [row.astype(np.float64) for row in gmm.means_invvars]
    inv_vars = [row.astype(np.float64) for row in gmm.inv_vars]
    while len(weights) < target:
        heaviest = int(np.argmax(weights))
        weights[heaviest] /= 2
        # A step of perturb_factor standard deviations in the mean (× inverse variance: √(1/σ²)).
        step = perturb_factor * rng.standard_normal(gmm.dim) * np.sqrt(inv_vars[heaviest])
        weights.append(weights[heaviest])
        inv_vars.append(inv_vars[heaviest].copy())
        means_invvars.append(means_invvars[heaviest] + step)
        means_invvars[heaviest] = means_invvars[heaviest] - step
    return DiagGmm(
        np.array(weights, dtype=np.float32),
        np.array(means_invvars, dtype=np.float32),
        np.array(inv_vars, dtype=np.float32),
    )


def mix_up(
    model: AmDiagGmm,
    pdf_occupancy: np.ndarray,
    target: int,
    power: float = 0.2,
    min_count: float = 20.0,
    perturb_factor: float = 0.01,
    rng: np.random.Generator | None = None,
) -> AmDiagGmm:
    """Kaldi's ``gmm-est --mix-up`` / ``gmm-mixup`` (``AmDiagGmm::SplitByCount``): grow towards ``target`` Gaussians."""
    rng = rng or np.random.default_rng(0)
    targets = split_targets(pdf_occupancy, target, power, min_count)
    return AmDiagGmm(
        [split_gmm(g, int(t), perturb_factor, rng) if t > g.num_gauss else g for g, t in zip(model.pdfs, targets)]
    )


def update_transitions(
    transition_model: TransitionModel, counts: np.ndarray, floor: float = 0.01, min_count: float = 5.0
) -> tuple[TransitionModel, float]:
    """Kaldi's ``TransitionModel::MleUpdate``: new transition log-probabilities, and the objective gain per frame.

    Transition states with fewer than ``min_count`` counts keep their
    probabilities; the others get count ratios, floored at ``floor`` and
    renormalised (three times, as Kaldi).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if len(counts) != transition_model.num_transition_ids + 1:
        raise ValueError(f"{len(counts)} transition counts for {transition_model.num_transition_ids} transition-ids")
    log_probs = transition_model.log_probs.astype(np.float64).copy()
    starts = transition_model.state2id[1:-1]  # first transition-id of each transition state
    state_of = transition_model.transition_state[1:] - 1  # 0-based state of each transition-id
    totals = np.add.reduceat(counts[1:], starts - 1)
    update = totals[state_of] >= min_count
    probs = np.where(update, counts[1:] / np.maximum(totals[state_of], 1e-300), np.exp(log_probs[1:]))
    for _ in range(3):
        probs = probs / np.add.reduceat(probs, starts - 1)[state_of]
        probs = np.where(update, np.maximum(probs, floor), probs)
    new = np.where(update, np.log(probs), log_probs[1:])
    gain = float(np.sum(np.where(update & (counts[1:] != 0), counts[1:] * (new - log_probs[1:]), 0.0)))
    total = float(counts[1:].sum())
    log_probs[1:] = new
    model = TransitionModel(transition_model.topology, transition_model.tuples, log_probs.astype(np.float32))
    return model, gain / total if total else 0.0


def global_gaussian(features: Mapping[str, np.ndarray], max_utterances: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the frames of the first ``max_utterances`` utterances (``gmm-init-mono`` on ``subset-feats --n=10``)."""
    frames = [np.asarray(f, dtype=np.float64) for _, f in zip(range(max_utterances), features.values())]
    frames = np.concatenate([f for f in frames if len(f)])
    mean = frames.mean(axis=0)
    variance = (frames**2).mean(axis=0) - mean**2
    if not (variance > 0).all():
        raise ValueError("a feature dimension has zero variance in the initialisation frames")
    return mean, variance


def gaussian_from_stats(count: float, sums: np.ndarray, sums_sq: np.ndarray, var_floor: float = 0.01) -> DiagGmm:
    """One Gaussian from Σx and Σx² (``DiagGmm(GaussClusterable, var_floor)`` in ``gmm-init-model``)."""
    mean = sums / count
    variance = np.maximum(sums_sq / count - mean**2, var_floor)
    return DiagGmm.from_means_and_variances([1.0], mean[None], variance[None])


def average_log_likelihood(stats: GmmStats) -> float:
    """Log-likelihood per frame of the accumulated statistics (NaN when they hold no frame)."""
    return stats.log_likelihood / stats.num_frames if stats.num_frames else math.nan
