"""Decoding graphs (HCLG) without Kaldi binaries, as ``utils/mkgraph.sh`` builds them.

:func:`make_hclg` follows ``mkgraph.sh`` step by step, with kaldifst and
kaldi-hmm-gmm:

1. ``LG = L_disambig o G``, determinized in the log semiring
   (``fstdeterminizestar --use-log=true``), minimized with labels and weights
   encoded (``fstminimizeencoded``), arcs sorted by input;
2. ``CLG``: ``fstcomposecontext`` (kaldifst's ``compose_context``) with the
   tree's context width N and central position P (1 and 0 for a monophone
   tree, where C only renumbers the phones), and the ``ilabels`` table of
   phone windows;
3. ``Ha``: ``make-h-transducer`` (``get_h_transducer``, transition scale 1.0)
   from ``ilabels``, the tree and the transition model; its input labels are
   transition-ids, plus one id per disambiguation symbol beyond them;
4. ``HCLGa = Ha o CLG``, determinized (log semiring); the disambiguation
   transition-ids become epsilons (``fstrmsymbols``, here a composition with a
   one-state relabelling transducer), then ``fstminimizeencoded``;
5. ``HCLG``: ``add-self-loops --self-loop-scale=0.1 --reorder=true``.

Two steps of ``mkgraph.sh`` are left out because kaldifst has no equivalent:
``fstpushspecial`` on LG (it only moves weights, for pruning) and
``fstrmepslocal`` (the graph keeps a few epsilon arcs, which the decoders
follow). Neither changes the best path.

:func:`make_graph` writes a graph directory (``HCLG.fst`` as a *vector* FST,
which Kaldi and :func:`blasr.kaldi.formats.fst.read_fst` both read, ``words.txt``,
``phones.txt``, ``phones/``, ``num_pdfs``) and is idempotent.

Training graphs for alignment (``compile-train-graphs``) are
:class:`blasr.kaldi.gmm.align.TrainingGraphCompiler`'s, from a lang directory's
``L.fst`` and ``phones/disambig.int``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import kaldi_hmm_gmm as khg
import kaldifst
import numpy as np

from blasr.kaldi.formats.fst import fst_arrays, read_fst
from blasr.kaldi.formats.model import TransitionModel, as_transition_model, model_to_bytes
from blasr.kaldi.formats.symbols import write_symbol_table
from blasr.kaldi.formats.tree import ContextDependency, read_tree
from blasr.kaldi.lang.lang_dir import MARKER, Lang, load_lang
from blasr.kaldi.lang.lexicon import LangError

logger = logging.getLogger("blasr")

TRANSITION_SCALE = 1.0  # mkgraph.sh --transition-scale
SELF_LOOP_SCALE = 0.1  # mkgraph.sh --self-loop-scale


def stochasticity(fst: Any) -> tuple[float, float]:
    """``fstisstochastic``: the smallest and largest log of the sum of probabilities leaving a state.

    Each state's total (arcs plus final probability, in the log semiring) is 1
    in a stochastic FST, so both numbers are near 0. States with nothing
    leaving them are ignored.
    """
    arrays = fst_arrays(fst)
    with np.errstate(over="ignore"):
        logs = np.full(arrays.num_states, -np.inf)
        has_final = np.isfinite(arrays.final)
        logs[has_final] = -arrays.final[has_final].astype(np.float64)
        np.logaddexp.at(logs, arrays.source_states(), -arrays.arcs["weight"].astype(np.float64))
    used = np.isfinite(logs)
    if not used.any():
        return 0.0, 0.0
    return float(logs[used].min()), float(logs[used].max())


def _one_state_transducer(pairs: Sequence[tuple[int, int]], weights: Sequence[float] | None = None) -> Any:
    """A one-state, final transducer with a loop arc ``i:o`` per pair (arcs sorted by output label)."""
    fst = kaldifst.StdVectorFst()
    fst.start = fst.add_state()
    fst.set_final(0, 0.0)
    for index, (ilabel, olabel) in enumerate(pairs):
        fst.add_arc(0, kaldifst.StdArc(int(ilabel), int(olabel), 0.0 if weights is None else float(weights[index]), 0))
    return fst


def relabel_input(fst: Any, labels: np.ndarray) -> Any:
    """A copy of ``fst`` with input label ``l`` replaced by ``labels[l]`` (0 makes it epsilon).

    ``labels`` must cover every input label of ``fst``: a label beyond it is
    an error (the composition used here would silently drop its paths).
    Structure and weights are kept; epsilon input arcs stay.
    """
    labels = np.asarray(labels, dtype=np.int64)
    arrays = fst_arrays(fst)
    present = np.unique(arrays.arcs["ilabel"])
    if len(present) and (present.min() < 0 or present.max() >= len(labels)):
        raise LangError(f"the FST has input labels up to {present.max()}; the relabelling covers 0..{len(labels) - 1}")
    present = present[present > 0]
    relabel = _one_state_transducer([(labels[label], label) for label in present])
    kaldifst.arcsort(relabel, sort_type="olabel")
    return kaldifst.compose(relabel, fst, connect=False)  # matched on relabel's (sorted) output labels


def add_word_penalty(fst: Any, penalty: float) -> Any:
    """A copy with ``penalty`` added to the cost of every arc that outputs a word (``lattice-add-penalty``)."""
    arrays = fst_arrays(fst)
    words = np.unique(arrays.arcs["olabel"])
    words = words[words > 0]
    penalty_fst = _one_state_transducer([(w, w) for w in words], [penalty] * len(words))
    kaldifst.arcsort(penalty_fst, sort_type="ilabel")
    # Matched on the penalty's (sorted) input labels: HCLG's output labels are not sorted.
    return kaldifst.compose(fst, penalty_fst, match_side="right", connect=False)


# -- HCLG ---------------------------------------------------------------------------------------


def compose_lg(L_disambig: Any, G: Any) -> Any:  # noqa: N803  (Kaldi's names)
    """``fsttablecompose L_disambig G | fstdeterminizestar --use-log=true | fstminimizeencoded | fstarcsort``."""
    L_disambig = L_disambig.copy()
    kaldifst.arcsort(L_disambig, sort_type="olabel")
    lg = kaldifst.compose(L_disambig, G)
    if lg.num_states == 0:
        raise LangError("L o G is empty: the grammar accepts no word sequence the lexicon can spell")
    if kaldifst.determinize_star(lg, use_log=True):
        raise LangError("determinization of LG stopped early")
    kaldifst.minimize_encoded(lg)
    kaldifst.arcsort(lg, sort_type="ilabel")
    return lg


def compose_clg(lg: Any, tree: ContextDependency, disambig_phones: Sequence[int]) -> tuple[Any, list[list[int]]]:
    """``fstcomposecontext``: CLG and its ``ilabels`` (the phone window of each input label)."""
    clg, ilabels = kaldifst.compose_context(
        list(disambig_phones), tree.context_width, tree.central_position, lg
    )
    kaldifst.arcsort(clg, sort_type="ilabel")
    return clg, ilabels


def make_hclg(
    L_disambig: Any,  # noqa: N803
    G: Any,  # noqa: N803
    tree: ContextDependency,
    transition_model: TransitionModel,
    disambig_phones: Sequence[int],
    transition_scale: float = TRANSITION_SCALE,
    self_loop_scale: float = SELF_LOOP_SCALE,
) -> Any:
    """HCLG (input: transition-ids, output: word ids) from the lexicon with disambiguation symbols and G."""
    if tree.num_pdfs != transition_model.num_pdfs:
        raise LangError(f"the tree has {tree.num_pdfs} pdfs, the transition model {transition_model.num_pdfs}")
    kaldi_model = transition_model.to_kaldi_hmm_gmm()
    lg = compose_lg(L_disambig, G)
    clg, ilabels = compose_clg(lg, tree, disambig_phones)
    missing = sorted({p for window in ilabels for p in window if p > 0} - set(transition_model.phones))
    if missing:
        raise LangError(f"phones {missing} of the lexicon have no HMM in the transition model (another phone set?)")
    ha, disambig_tids = khg.get_h_transducer(
        ilabel_info=ilabels,
        ctx_dep=tree.to_kaldi_hmm_gmm(),
        trans_model=kaldi_model,
        config=khg.HTransducerConfig(transition_scale=transition_scale),
    )
    kaldifst.arcsort(ha, sort_type="olabel")
    hclga = kaldifst.compose(ha, clg)
    if kaldifst.determinize_star(hclga, use_log=True):
        raise LangError("determinization of HCLGa stopped early")
    # fstrmsymbols disambig_tid.int: the disambiguation transition-ids become epsilons.
    num_tids = transition_model.num_transition_ids
    labels = np.arange(max([num_tids, *disambig_tids]) + 1)
    labels[list(disambig_tids)] = 0
    hclga = relabel_input(hclga, labels)
    kaldifst.minimize_encoded(hclga)
    hclg = khg.add_self_loops(
        self_loop_scale=self_loop_scale, disambig_syms=[], reorder=True, trans_model=kaldi_model, ifst=hclga
    )
    kaldifst.arcsort(hclg, sort_type="ilabel")
    return hclg


def _as_tree(tree: ContextDependency | str | os.PathLike) -> ContextDependency:
    return tree if isinstance(tree, ContextDependency) else read_tree(tree)


@dataclass
class Graph:
    """A graph directory written by :func:`make_graph`."""

    graph_dir: Path
    num_states: int
    num_arcs: int

    @property
    def hclg_path(self) -> Path:
        return self.graph_dir / "HCLG.fst"

    def read(self) -> Any:
        return read_fst(self.hclg_path)


def make_graph(
    lang_dir: Lang | str | os.PathLike,
    tree: ContextDependency | str | os.PathLike,
    transition_model: TransitionModel | str | os.PathLike,
    graph_dir: str | os.PathLike,
    transition_scale: float = TRANSITION_SCALE,
    self_loop_scale: float = SELF_LOOP_SCALE,
    overwrite: bool = False,
) -> Graph:
    """``utils/mkgraph.sh lang_dir model_dir graph_dir``: HCLG.fst and what decoding needs beside it.

    ``tree`` and ``transition_model`` are objects or files (``tree``,
    ``final.mdl``). The lang directory needs ``L_disambig.fst`` and ``G.fst``.
    Writes ``HCLG.fst`` (vector), ``words.txt``, ``phones.txt``,
    ``phones/{disambig.txt,disambig.int,silence.csl}`` (and ``word_boundary.*``,
    ``align_lexicon.*`` if the lang has them) and ``num_pdfs``; a ``.completed`` marker holds the
    digest of the inputs, and a second call with the same inputs does nothing.
    """
    lang = lang_dir if isinstance(lang_dir, Lang) else load_lang(lang_dir)
    tree = _as_tree(tree)
    transition_model = as_transition_model(transition_model)
    for required in (lang.L_disambig_path, lang.G_path):
        if not required.is_file():
            raise FileNotFoundError(f"{required}: no such file (make_graph needs L_disambig.fst and G.fst)")
    graph_dir = Path(graph_dir)
    digest = hashlib.sha256()
    for part in (
        lang.L_disambig_path.read_bytes(),
        lang.G_path.read_bytes(),
        (lang.lang_dir / "phones.txt").read_bytes(),
        (lang.lang_dir / "words.txt").read_bytes(),
        tree.to_bytes(),
        model_to_bytes(transition_model, None),
        f"{transition_scale} {self_loop_scale}".encode(),
    ):
        digest.update(hashlib.sha256(part).digest())
    marker = graph_dir / MARKER
    if not overwrite and marker.is_file() and marker.read_text().strip() == digest.hexdigest():
        logger.info("graph %s is complete with these inputs; not rebuilding", graph_dir)
        arrays = fst_arrays(read_fst(graph_dir / "HCLG.fst"))
        return Graph(graph_dir, arrays.num_states, arrays.num_arcs)
    graph_dir.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)

    hclg = make_hclg(
        lang.read_fst("L_disambig.fst"),
        lang.read_fst("G.fst"),
        tree,
        transition_model,
        lang.disambig,
        transition_scale,
        self_loop_scale,
    )
    hclg.write(str(graph_dir / "HCLG.fst"))
    write_symbol_table(lang.words, graph_dir / "words.txt")
    write_symbol_table(lang.phones, graph_dir / "phones.txt")
    (graph_dir / "phones").mkdir(exist_ok=True)
    for name in ("disambig.txt", "disambig.int", "silence.csl", "word_boundary.txt", "word_boundary.int",
                 "align_lexicon.txt", "align_lexicon.int"):
        source = lang.lang_dir / "phones" / name
        if source.is_file():
            shutil.copyfile(source, graph_dir / "phones" / name)
    (graph_dir / "num_pdfs").write_text(f"{transition_model.num_pdfs}\n")
    arrays = fst_arrays(hclg)
    marker.write_text(digest.hexdigest() + "\n")
    logger.info("HCLG in %s: %d states, %d arcs", graph_dir, arrays.num_states, arrays.num_arcs)
    return Graph(graph_dir, arrays.num_states, arrays.num_arcs)
