"""GMM-HMM training and alignment: flat-start monophones, then triphones on a numpy-built tree.

The recipe is Kaldi's (``steps/train_mono.sh``, ``steps/train_deltas.sh``,
``steps/align_si.sh``), with kaldi-hmm-gmm for the graphs and the Viterbi
search (:mod:`blasr.kaldi.gmm.align`), numpy for the statistics and updates
(:mod:`blasr.kaldi.gmm.estimate`) and for the tree (:mod:`blasr.kaldi.gmm.tree`):

* :func:`train_mono` — ``gmm-init-mono`` (every pdf starts as the global
  Gaussian of the first utterances), ``align-equal-compiled``, then
  ``num_iters`` EM passes (``gmm-acc-stats-ali`` + ``gmm-est``) with
  realignment at ``realign_iters`` and the Gaussian budget growing linearly
  to ``total_gauss`` (mixture splitting, ``--mix-up``).
* :func:`train_tri` — ``acc-tree-stats`` on the previous alignments,
  ``cluster-phones`` + ``compile-questions``, ``build-tree --max-leaves``,
  ``gmm-init-model`` (one Gaussian per leaf), ``convert-ali``, then EM passes
  with realignment as above.
* :func:`align_corpus` — ``align_si.sh``: the final per-frame alignments
  (transition-ids; pdf-ids with ``AlignmentResult.pdf_alignments``).
* :func:`write_alignment_dir` — ``final.mdl``, ``tree``, ``ali.1.gz``,
  ``num_jobs`` and the class counts (``analyze-counts``) in Kaldi's formats, so
  :func:`blasr.kaldi.formats.experiment.load_kaldi_experiment` (or Kaldi) reads them.

Each EM pass's realignment and accumulation is done by a :class:`LocalPasses`
(here, over every utterance) or by :class:`blasr.kaldi.gmm.recipe.JobPasses`
(in jobs over shares of the utterances, summed as ``gmm-sum-accs``).

Features are ``(frames, dim)`` float matrices per utterance, taken as they come:
Kaldi's GMMs use MFCC + Δ + ΔΔ (39 dims); blasr's are trained on the 64
log-mel statics (optionally with Δ and ΔΔ, 192 dims) that the network sees.
``features`` may be any mapping (e.g. one that loads from disk on access), so
the corpus need not fit in memory. Transcripts are phone-id sequences, or word
ids with a lexicon FST (:func:`blasr.kaldi.gmm.align.lexicon_fst`, or a lang
directory's ``L.fst``). Utterances that fail to align are counted in every
pass's report and left out of that pass's statistics, as Kaldi does.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence, TypeVar

import kaldi_hmm_gmm
import numpy as np

from blasr.kaldi.formats.gmm import AmDiagGmm, DiagGmm
from blasr.kaldi.formats.io import write_int_vectors
from blasr.kaldi.formats.model import HmmTopology, TransitionModel, read_model, write_model
from blasr.kaldi.formats.tree import ContextDependency, read_tree, write_tree
from blasr.kaldi.gmm.align import (
    AlignmentResult,
    AlignOptions,
    TrainingGraphCompiler,
    align_with_gmm,
    boost_silence,
    class_counts,
    equal_align,
    phone_segments,
    write_class_counts,
)
from blasr.kaldi.gmm.estimate import (
    GmmStats,
    MleOptions,
    accumulate_gmm_stats,
    average_log_likelihood,
    gaussian_from_stats,
    global_gaussian,
    mix_up,
    update_gmms,
    update_transitions,
)
from blasr.kaldi.gmm.tree import (
    Questions,
    TreeBuildInfo,
    TreeRoot,
    accumulate_tree_stats,
    build_tree,
    cluster_phones,
    context_windows,
    leaf_statistics,
    map_events,
    roots_per_phone,
)

logger = logging.getLogger(__name__)

MONO_REALIGN_ITERS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 29, 32, 35, 38)


@dataclass
class GmmSystem:
    """A GMM-HMM system: transition model, tree, GMMs (Kaldi's ``final.mdl`` + ``tree``)."""

    transition_model: TransitionModel
    tree: ContextDependency
    acoustic_model: AmDiagGmm

    @property
    def num_pdfs(self) -> int:
        return self.transition_model.num_pdfs

    def save(self, directory: str | os.PathLike, binary: bool = True) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_model(self.transition_model, self.acoustic_model, directory / "final.mdl", binary)
        write_tree(self.tree, directory / "tree", binary)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "GmmSystem":
        directory = Path(directory)
        transition_model, acoustic_model = read_model(directory / "final.mdl")
        return cls(transition_model, read_tree(directory / "tree"), acoustic_model)

    def graph_compiler(self, lexicon=None, **kwargs) -> TrainingGraphCompiler:
        """Training graphs for this system: phone transcripts without ``lexicon``, word transcripts with an L FST."""
        if lexicon is None:
            return TrainingGraphCompiler.for_phones(self.transition_model, self.tree, **kwargs)
        return TrainingGraphCompiler(self.transition_model, self.tree, lexicon, **kwargs)


@dataclass
class MonoOptions:
    """``steps/train_mono.sh`` defaults (``beam`` 6 for the first realignment, then 10; retry beam 4 × beam)."""

    num_iters: int = 40
    max_iter_inc: int = 30
    total_gauss: int = 1000
    realign_iters: Sequence[int] = MONO_REALIGN_ITERS
    power: float = 0.25
    boost_silence: float = 1.0
    first_beam: float = 6.0
    beam: float = 10.0
    init_utterances: int = 10
    seed: int = 0


@dataclass
class TriOptions:
    """``steps/train_deltas.sh`` defaults, plus the tree options of :func:`blasr.kaldi.gmm.tree.build_tree`.

    ``num_leaves`` is a maximum, as Kaldi's ``--max-leaves``: after splitting,
    ``cluster_thresh`` (Kaldi's ``build-tree --cluster-thresh``: -1, the
    default, merges leaves of one root while a merge costs less than the
    smallest split gained; 0 merges nothing) and ``round_num_leaves`` (Kaldi's
    ``--round-num-leaves``, on by default: down to a multiple of 8) merge leaves
    again. ``cluster_thresh=0, round_num_leaves=False`` gives exactly
    ``num_leaves`` whenever the statistics allow.
    """

    num_leaves: int = 2500
    total_gauss: int = 15000
    num_iters: int = 35
    max_iter_inc: int = 25
    realign_iters: Sequence[int] = (10, 20, 30)
    power: float = 0.25
    boost_silence: float = 1.0
    beam: float = 10.0
    retry_beam: float = 40.0
    context_width: int = 3
    central_position: int = 1
    tree_thresh: float = 0.0
    tree_min_count: float = 0.0
    cluster_thresh: float = -1.0
    round_num_leaves: bool = True
    seed: int = 0


Options = TypeVar("Options", MonoOptions, TriOptions)


def with_iterations(options: Options, num_iters: int) -> Options:
    """``options`` with ``num_iters`` iterations, the schedule shortened as Kaldi's scripts read it:
    Gaussians are added until 5 iterations before the end (``max_iter_inc``, at least 1) and only
    the realignments that fall inside the run are kept."""
    if num_iters < 1:
        raise ValueError(f"num_iters must be positive, got {num_iters}")
    return replace(options, num_iters=num_iters, max_iter_inc=max(1, min(options.max_iter_inc, num_iters - 5)),
                   realign_iters=[i for i in options.realign_iters if i < num_iters])


@dataclass
class TrainResult:
    """A trained system, the alignments of its last pass, and per-pass numbers (for logs and tests)."""

    system: GmmSystem
    alignments: AlignmentResult
    log_likelihoods: list[float] = field(default_factory=list)  # per frame, per EM pass
    num_gauss: list[int] = field(default_factory=list)  # after each pass
    reports: list[str] = field(default_factory=list)  # one line per alignment pass
    tree_info: TreeBuildInfo | None = None


def _estimate(
    system: GmmSystem,
    stats: GmmStats,
    mix_target: int,
    power: float,
    rng: np.random.Generator,
    mle: MleOptions,
) -> GmmSystem:
    # gmm-est: transitions, then GMMs, then mixing up with the occupancies of these statistics
    # (every pdf below its share of mix_target splits, even when the total is already reached).
    transition_model, _ = update_transitions(system.transition_model, stats.transition_counts)
    acoustic_model, _ = update_gmms(system.acoustic_model, stats, mle)
    if mix_target > 0:
        acoustic_model = mix_up(acoustic_model, stats.pdf_occupancy, mix_target, power=power, rng=rng)
    return GmmSystem(transition_model, system.tree, acoustic_model)


def _realign(
    system: GmmSystem,
    compiler: TrainingGraphCompiler,
    transcripts: Mapping[str, Sequence[int]],
    features: Mapping[str, np.ndarray],
    options: AlignOptions,
    boost: float,
    silence_phones: Sequence[int],
) -> AlignmentResult:
    model = boost_silence(system.transition_model, system.acoustic_model, silence_phones, boost)
    return align_with_gmm(compiler, transcripts, features, model, options)


class LocalPasses:
    """The work of an EM pass, done in this process over every utterance: realign (when asked), accumulate.

    :meth:`begin` starts a stage (``mono``, ``tri``) with its system, transcripts and first alignments;
    each :meth:`run` (Kaldi's ``gmm-align-compiled`` and ``gmm-acc-stats-ali``) returns the alignments
    the statistics were taken on. :class:`blasr.kaldi.gmm.recipe.JobPasses` does the same in jobs
    (one share of the utterances each, then ``gmm-sum-accs``), with the same results.
    """

    def __init__(self, features: Mapping[str, np.ndarray], lexicon=None, silence_phones: Sequence[int] = (),
                 boost: float = 1.0) -> None:
        self.features, self.lexicon = features, lexicon
        self.silence_phones, self.boost = list(silence_phones), boost

    def begin(self, stage: str, system: GmmSystem, transcripts: Mapping[str, Sequence[int]],
              alignments: AlignmentResult) -> None:
        self.transcripts, self.alignments = transcripts, alignments

    def run(self, system: GmmSystem, realign: AlignOptions | None = None,
            accumulate: bool = True) -> tuple[AlignmentResult, GmmStats | None]:
        """Realign with ``system`` if ``realign`` is given, then (with ``accumulate``) its statistics."""
        if realign is not None:
            # The graphs get this pass's transition probabilities, as gmm-align-compiled adds those of $x.mdl.
            compiler = system.graph_compiler(self.lexicon)
            self.alignments = _realign(system, compiler, self.transcripts, self.features, realign, self.boost,
                                       self.silence_phones)
        if not accumulate:
            return self.alignments, None
        stats = accumulate_gmm_stats(system.transition_model, system.acoustic_model, self.alignments.alignments,
                                     self.features)
        return self.alignments, stats


def _em_passes(
    system: GmmSystem,
    passes: LocalPasses,
    result: TrainResult,
    num_iters: int,
    realign_iters: Sequence[int],
    max_iter_inc: int,
    num_gauss: int,
    inc_gauss: int,
    power: float,
    beams: Sequence[tuple[float, float]],
    rng: np.random.Generator,
    stage: str,
) -> tuple[GmmSystem, AlignmentResult]:
    """Kaldi's training loop: for x = 1 .. num_iters - 1, realign if x is in realign_iters, accumulate, estimate."""
    realign_count = 0
    alignments = passes.alignments
    for iteration in range(1, num_iters):
        options = None
        if iteration in realign_iters:
            beam, retry_beam = beams[min(realign_count, len(beams) - 1)]
            options = AlignOptions(beam=beam, retry_beam=retry_beam)
            realign_count += 1
        alignments, stats = passes.run(system, options)
        if options is not None:
            result.reports.append(f"{stage} pass {iteration}: {alignments.summary()}")
            logger.info(result.reports[-1])
        system = _estimate(system, stats, num_gauss, power, rng, MleOptions())
        result.log_likelihoods.append(average_log_likelihood(stats))
        result.num_gauss.append(system.acoustic_model.num_gauss)
        logger.info(
            "%s pass %d: log-likelihood per frame %.4f over %d frames; %d Gaussians",
            stage,
            iteration,
            result.log_likelihoods[-1],
            stats.num_frames,
            system.acoustic_model.num_gauss,
        )
        if iteration <= max_iter_inc:
            num_gauss += inc_gauss
    return system, alignments


# -- monophones -----------------------------------------------------------------------------


def init_mono(
    topology: HmmTopology,
    features: Mapping[str, np.ndarray],
    shared_phones: Sequence[Sequence[int]] | None = None,
    max_utterances: int = 10,
) -> GmmSystem:
    """Kaldi's ``gmm-init-mono``: a monophone tree and one global Gaussian copied into every pdf.

    ``shared_phones``: groups of phones that share their pdfs (Kaldi's ``--shared-phones``).
    """

    kaldi_topology = topology.to_kaldi_hmm_gmm()
    num_classes = kaldi_topology.get_phone_to_num_pdf_classes()
    if shared_phones is None:
        kaldi_tree = kaldi_hmm_gmm.monophone_context_dependency(
            phones=topology.phones, phone2num_pdf_classes=num_classes
        )
    else:
        groups = [sorted(int(p) for p in group) for group in shared_phones]
        kaldi_tree = kaldi_hmm_gmm.monophone_context_dependency_shared(
            phone_classes=groups, phone2num_pdf_classes=num_classes
        )
    tree = ContextDependency.from_kaldi_hmm_gmm(kaldi_tree)
    transition_model = transition_model_for(tree, topology)
    mean, variance = global_gaussian(features, max_utterances)
    gmm = DiagGmm.from_means_and_variances([1.0], mean[None], variance[None])
    return GmmSystem(transition_model, tree, AmDiagGmm([gmm] * transition_model.num_pdfs))


def transition_model_for(tree: ContextDependency, topology: HmmTopology) -> TransitionModel:
    """Kaldi's ``TransitionModel(ctx_dep, topo)``: the transition states every pdf of the tree can occur in."""

    model = kaldi_hmm_gmm.TransitionModel(ctx_dep=tree.to_kaldi_hmm_gmm(), hmm_topo=topology.to_kaldi_hmm_gmm())
    return TransitionModel.from_kaldi_hmm_gmm(model)


def train_mono(
    topology: HmmTopology,
    transcripts: Mapping[str, Sequence[int]],
    features: Mapping[str, np.ndarray],
    options: MonoOptions | None = None,
    lexicon=None,
    silence_phones: Sequence[int] = (),
    shared_phones: Sequence[Sequence[int]] | None = None,
    passes: LocalPasses | None = None,
) -> TrainResult:
    """Kaldi's ``steps/train_mono.sh``: flat start, EM with realignment and mixing up.

    Returns the system after ``num_iters`` passes and the alignments its last pass used.
    ``passes`` does each pass's alignment and accumulation (default: here, :class:`LocalPasses`).
    """
    options = options or MonoOptions()
    passes = passes or LocalPasses(features, lexicon, silence_phones, options.boost_silence)
    rng = np.random.default_rng(options.seed)
    system = init_mono(topology, features, shared_phones, options.init_utterances)
    compiler = system.graph_compiler(lexicon)
    num_frames = {utt: len(features[utt]) for utt in transcripts if utt in features}
    alignments = equal_align(compiler, transcripts, num_frames)
    result = TrainResult(system, alignments)
    result.reports.append(f"mono equal alignment: {alignments.summary()}")
    logger.info(result.reports[-1])
    num_gauss = system.acoustic_model.num_gauss
    inc_gauss = max(0, (options.total_gauss - num_gauss) // max(options.max_iter_inc, 1))
    passes.begin("mono", system, transcripts, alignments)
    # Pass 0 (0.mdl -> 1.mdl) allows Gaussians with little data: min occupancy 3, as train_mono.sh.
    _, stats = passes.run(system)
    system = _estimate(system, stats, num_gauss, options.power, rng, MleOptions(min_gaussian_occupancy=3.0))
    result.log_likelihoods.append(average_log_likelihood(stats))
    result.num_gauss.append(system.acoustic_model.num_gauss)
    beams = [(options.first_beam, 4 * options.first_beam), (options.beam, 4 * options.beam)]
    system, alignments = _em_passes(system, passes, result, options.num_iters, options.realign_iters,
                                    options.max_iter_inc, num_gauss, inc_gauss, options.power, beams, rng, "mono")
    result.system, result.alignments = system, alignments
    return result


# -- triphones -------------------------------------------------------------------------------


def convert_alignments(
    old_model: TransitionModel,
    new_model: TransitionModel,
    new_tree: ContextDependency,
    alignments: Mapping[str, np.ndarray],
    reorder: bool = True,
) -> dict[str, np.ndarray]:
    """Kaldi's ``convert-ali``: the same HMM-state paths, relabelled with the pdfs of a new tree and model.

    Both models must share the topology. Each phone's pdfs come from the new
    tree with the phone's context in the alignment.
    """
    if old_model.topology.phone_to_entry != new_model.topology.phone_to_entry:
        raise ValueError("convert-ali needs the same topology in both models")
    n, p = new_tree.context_width, new_tree.central_position
    # Transition states of the new model as sortable keys (phone, hmm-state, forward pdf, self-loop pdf).
    radix = np.array([int(new_model.tuples[:, 1].max()) + 1, new_model.num_pdfs + 1, new_model.num_pdfs + 1], np.int64)

    def encode(t: np.ndarray) -> np.ndarray:
        t = t.astype(np.int64)
        return ((t[:, 0] * radix[0] + t[:, 1]) * radix[1] + t[:, 2]) * radix[2] + t[:, 3]

    new_keys = encode(new_model.tuples)
    # The forward and self-loop pdf-classes of each old transition-id's HMM state.
    forward_class = np.full(old_model.num_transition_ids + 1, -1, dtype=np.int32)
    self_loop_class = forward_class.copy()
    for tid in range(1, old_model.num_transition_ids + 1):
        state = old_model.topology.topology_for_phone(int(old_model.phone[tid]))[int(old_model.hmm_state[tid])]
        forward_class[tid], self_loop_class[tid] = state.forward_pdf_class, state.self_loop_pdf_class
    converted = {}
    for utterance, alignment in alignments.items():
        tids = np.asarray(alignment, dtype=np.int64)
        if tids.size == 0:
            converted[utterance] = tids.astype(np.int32)
            continue
        phones, starts = phone_segments(old_model, tids, reorder)
        windows = context_windows(phones, n, p)
        segment = np.repeat(np.arange(len(phones)), np.diff(np.r_[starts, len(tids)]))
        frame_windows = windows[segment]
        forward_pdf = map_events(new_tree.to_pdf, frame_windows, forward_class[tids])
        self_loop_pdf = map_events(new_tree.to_pdf, frame_windows, self_loop_class[tids])
        wanted = np.stack([old_model.phone[tids], old_model.hmm_state[tids], forward_pdf, self_loop_pdf], axis=1)
        keys = encode(wanted)
        rows = np.searchsorted(new_keys, keys)
        rows = np.minimum(rows, len(new_keys) - 1)
        if (forward_pdf < 0).any() or (new_keys[rows] != keys).any():
            raise ValueError(f"utterance {utterance!r}: the new tree and model cannot represent its alignment")
        trans_index = tids - old_model.state2id[old_model.transition_state[tids]]
        converted[utterance] = (new_model.state2id[rows + 1] + trans_index).astype(np.int32)
    return converted


def build_tri_tree(
    system: GmmSystem,
    topology: HmmTopology,
    alignments: Mapping[str, np.ndarray],
    features: Mapping[str, np.ndarray],
    options: TriOptions,
    silence_phones: Sequence[int] = (),
    phone_sets: Sequence[Sequence[int]] | None = None,
    roots: Sequence[TreeRoot] | None = None,
    extra_questions: Sequence[Sequence[int]] = (),
) -> tuple[GmmSystem, TreeBuildInfo]:
    """``acc-tree-stats``, ``cluster-phones``, ``compile-questions``, ``build-tree``, ``gmm-init-model``.

    ``phone_sets`` (Kaldi's ``sets.int``) default to one set per phone, ``roots``
    to one shared, split root per phone. Silence phones are context-independent
    in the statistics (``--ci-phones``), so their trees only ask about the pdf-class.
    """
    stats = accumulate_tree_stats(
        system.transition_model,
        alignments,
        features,
        options.context_width,
        options.central_position,
        ci_phones=silence_phones,
    )
    phone_sets = phone_sets or [[p] for p in topology.phones]
    questions = cluster_phones(stats, phone_sets, seed=options.seed) + [tuple(q) for q in extra_questions]
    questions = Questions.compile(questions, topology)
    roots = roots or roots_per_phone(topology.phones)
    tree, info = build_tree(
        stats,
        roots,
        questions,
        topology,
        options.num_leaves,
        thresh=options.tree_thresh,
        min_count=options.tree_min_count,
        cluster_thresh=options.cluster_thresh,
        round_num_leaves=options.round_num_leaves,
    )
    transition_model = transition_model_for(tree, topology)
    counts, sums, sums_sq = leaf_statistics(tree, stats)
    overall = (counts.sum(), sums.sum(0), sums_sq.sum(0))
    gmms = [
        gaussian_from_stats(counts[j], sums[j], sums_sq[j]) if counts[j] > 0 else gaussian_from_stats(*overall)
        for j in range(tree.num_pdfs)
    ]
    return GmmSystem(transition_model, tree, AmDiagGmm(gmms)), info


def train_tri(
    previous: GmmSystem,
    previous_alignments: Mapping[str, np.ndarray],
    topology: HmmTopology,
    transcripts: Mapping[str, Sequence[int]],
    features: Mapping[str, np.ndarray],
    options: TriOptions | None = None,
    lexicon=None,
    silence_phones: Sequence[int] = (),
    phone_sets: Sequence[Sequence[int]] | None = None,
    roots: Sequence[TreeRoot] | None = None,
    extra_questions: Sequence[Sequence[int]] = (),
    passes: LocalPasses | None = None,
) -> TrainResult:
    """Kaldi's ``steps/train_deltas.sh``: a context-dependent system with a tree of at most ``num_leaves`` leaves.

    ``previous_alignments`` (transition-ids of ``previous``) give the tree
    statistics and, converted to the new tree, the first pass's alignments.
    ``passes`` does each pass's alignment and accumulation (default: here, :class:`LocalPasses`).
    """
    options = options or TriOptions()
    passes = passes or LocalPasses(features, lexicon, silence_phones, options.boost_silence)
    rng = np.random.default_rng(options.seed)
    system, info = build_tri_tree(
        previous, topology, previous_alignments, features, options, silence_phones, phone_sets, roots, extra_questions
    )
    logger.info("tree: %s", info.summary())
    converted = convert_alignments(previous.transition_model, system.transition_model, system.tree, previous_alignments)
    alignments = AlignmentResult(alignments=converted)
    result = TrainResult(system, alignments, tree_info=info)
    result.reports.append(f"tree: {info.summary()}")
    num_gauss = system.num_pdfs
    inc_gauss = max(0, (options.total_gauss - num_gauss) // max(options.max_iter_inc, 1))
    passes.begin("tri", system, transcripts, alignments)
    system, alignments = _em_passes(system, passes, result, options.num_iters, options.realign_iters,
                                    options.max_iter_inc, num_gauss, inc_gauss, options.power,
                                    [(options.beam, options.retry_beam)], rng, "tri")
    result.system, result.alignments = system, alignments
    return result


# -- final alignment -------------------------------------------------------------------------


def align_corpus(
    system: GmmSystem,
    transcripts: Mapping[str, Sequence[int]],
    features: Mapping[str, np.ndarray],
    lexicon=None,
    options: AlignOptions | None = None,
    boost: float = 1.0,
    silence_phones: Sequence[int] = (),
) -> AlignmentResult:
    """Kaldi's ``steps/align_si.sh``: align the data with a trained system (beam 10, retry beam 40)."""
    compiler = system.graph_compiler(lexicon)
    return _realign(system, compiler, transcripts, features, options or AlignOptions(), boost, silence_phones)


def write_alignment_dir(
    directory: str | os.PathLike,
    system: GmmSystem,
    alignments: Mapping[str, np.ndarray],
    binary: bool = True,
) -> Path:
    """An alignment directory as Kaldi leaves it: ``final.mdl``, ``tree``, ``num_jobs`` (1), ``ali.1.gz``,
    plus ``ali_train_pdf.counts`` (``analyze-counts`` of the pdf alignments, text)."""
    directory = system.save(directory, binary)
    write_int_vectors(alignments, directory / "ali.1.gz")
    (directory / "num_jobs").write_text("1\n")
    pdfs = AlignmentResult(alignments=dict(alignments)).pdf_alignments(system.transition_model)
    write_class_counts(class_counts(pdfs, system.num_pdfs), directory / "ali_train_pdf.counts")
    return directory
