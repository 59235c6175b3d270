"""Lattices: determinization keeps the best path of every word sequence, rescoring equals searching, and Kaldi's
own lattice tools read what blasr writes (when ``KALDI_ROOT`` points at a build)."""

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst: the other order deadlocks at import)
import itertools
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from blasr.kaldi.decoding.decode import Decoder, DecodeOptions, raw_lattice, sweep
from blasr.kaldi.decoding.graph import make_graph
from blasr.kaldi.decoding.lattice import best_paths, determinize
from blasr.kaldi.formats.lattice import (
    CompactLattice,
    compact_lattice_bytes,
    parse_compact_lattice,
    read_lattices,
    write_lattices,
)
from blasr.kaldi.formats.io import KaldiFormatError
from blasr.kaldi.formats.model import write_model
from blasr.kaldi.lang.prepare import prepare_lang

from tests.kaldi.tiny_asr import ARPA, LEXICON, SILENCE, gmm_loglikes, monophone_model, separated_gmms, synthesize

SENTENCES = [["yes", "no"], ["yeah", "yes", "no"], ["no", "yes", "no"], ["yes"], ["no", "no", "yes", "yeah"]]
DIM = 10


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tiny recogniser with GMMs close together (spread 1.2), so that lattices hold competing words."""
    root = tmp_path_factory.mktemp("lattice")
    (root / "lm.arpa").write_text(ARPA)
    lang = prepare_lang(LEXICON, root / "lang", silence_phones=SILENCE, oov="<unk>", arpa=root / "lm.arpa")
    tree, model = monophone_model(lang)
    graph = make_graph(lang, tree, model, root / "graph")
    rng = np.random.default_rng(3)
    gmms = separated_gmms(model.num_pdfs, DIM, rng, spread=1.2)
    matrices, refs = {}, {}
    for index, words in enumerate(SENTENCES):
        feats, _ = synthesize(words, lang, tree, gmms, rng)
        matrices[f"utt{index}"] = gmm_loglikes(gmms, feats)
        refs[f"utt{index}"] = words
    return root, model, graph, matrices, refs


def all_paths(lattice: CompactLattice):
    """Every (words, graph cost, acoustic cost) of a small acyclic lattice."""
    out = []

    def walk(state, words, g, a):
        if np.isfinite(lattice.final[state, 0]):
            out.append((tuple(words), g + lattice.final[state, 0], a + lattice.final[state, 1]))
        for k in np.flatnonzero(lattice.src == state):
            walk(int(lattice.dst[k]), words + [int(lattice.word[k])], g + lattice.weight[k, 0],
                 a + lattice.weight[k, 1])

    walk(lattice.start, [], 0.0, 0.0)
    return out


def test_determinized_lattice_one_path_per_word_sequence_and_the_best_kept(world):
    _, model, graph, matrices, _ = world
    decoder = Decoder(graph.graph_dir, model, options=DecodeOptions(acoustic_scale=0.1, lattice_beam=8.0))
    competing = 0
    for utt, matrix in matrices.items():
        lattice, partial = decoder.decode_lattice(matrix, utt)
        assert not partial and lattice.is_topologically_sorted()
        paths = all_paths(lattice)
        sequences = [words for words, _, _ in paths]
        assert len(sequences) == len(set(sequences))  # deterministic on words
        competing += len(paths) > 1
        # the best path of the determinized lattice is the decoder's own best path (same cost, same words)
        best = decoder.search_best_path(matrix, utt)
        totals = [g + 0.1 * a for _, g, a in paths]
        k = int(np.argmin(totals))
        assert [decoder.words.symbol(w) for w in sequences[k]] == best.words
        assert -totals[k] == pytest.approx(best.score, abs=1e-2)
        # every path is within the lattice beam of the best, and the transition-ids cover every frame
        assert max(totals) <= min(totals) + 8.0 + 1e-3
        (path,) = best_paths(lattice, [(10.0, 0.0)])
        assert len(path.tids) == len(matrix) and path.tids.min() >= 1
        np.testing.assert_array_equal(model.pdf[path.tids], best.pdfs)
    assert competing >= 2  # the test means something only if lattices hold alternatives


def test_best_paths_is_the_minimum_over_all_paths_for_every_setting(world):
    _, model, graph, matrices, _ = world
    decoder = Decoder(graph.graph_dir, model)
    settings = list(itertools.product((7.0, 10.0, 17.0), (0.0, 0.5, 2.0)))
    for utt, matrix in matrices.items():
        lattice, _ = decoder.decode_lattice(matrix, utt)
        paths = all_paths(lattice)
        for (lm_weight, penalty), best in zip(settings, best_paths(lattice, settings)):
            costs = [g + a / lm_weight + penalty * len(words) for words, g, a in paths]
            k = int(np.argmin(costs))
            assert tuple(best.word_ids) == paths[k][0]
            assert best.graph_cost + best.acoustic_cost / lm_weight + penalty * len(best.word_ids) == pytest.approx(
                costs[k], abs=1e-3)


def test_sweep_by_rescoring_equals_sweep_by_searching(world):
    _, model, graph, matrices, refs = world
    grid = {"lm_weights": (7, 10, 14), "word_insertion_penalties": (0.0, 1.0)}
    rescored = sweep(matrices, refs, graph.graph_dir, model, rescore=True, **grid)
    searched = sweep(matrices, refs, graph.graph_dir, model, rescore=False, **grid)
    assert list(rescored.results) == list(searched.results)
    for setting in rescored.results:
        assert rescored.decodings[setting].hyps == searched.decodings[setting].hyps
    assert rescored.best == searched.best and rescored.best_counts == searched.best_counts
    assert all(h.lattice is not None for h in rescored.decodings[rescored.best].hypotheses.values())


def test_archive_round_trip_and_errors(world, tmp_path):
    _, model, graph, matrices, _ = world
    decoder = Decoder(graph.graph_dir, model)
    lattices = {utt: decoder.decode_lattice(matrix, utt)[0] for utt, matrix in matrices.items()}
    write_lattices(tmp_path / "lat.1.gz", lattices)
    back = dict(read_lattices(tmp_path / "lat.1.gz"))
    assert list(back) == list(lattices)
    for utt, lattice in lattices.items():
        assert compact_lattice_bytes(back[utt]) == compact_lattice_bytes(lattice)
        assert back[utt].tids == lattice.tids and back[utt].final_tids == lattice.final_tids
    data = compact_lattice_bytes(lattices["utt1"])
    with pytest.raises(KaldiFormatError, match="truncated"):
        parse_compact_lattice(data[:-6])
    (tmp_path / "bad.ark").write_bytes(b"utt1 not an fst")
    with pytest.raises(KaldiFormatError, match="not an OpenFst"):
        list(read_lattices(tmp_path / "bad.ark"))
    with pytest.raises(ValueError, match="whitespace"):
        write_lattices(tmp_path / "x.gz", {"a b": lattices["utt1"]})
    assert not (tmp_path / "x.gz").exists() and not list(tmp_path.glob(".x.gz.*"))  # nothing half-written


def test_raw_lattice_arrays(world):
    _, model, graph, matrices, _ = world
    decoder = Decoder(graph.graph_dir, model)
    scaled = decoder.scaled(matrices["utt0"], "utt0")
    search, _ = decoder._search(decoder._lattice_decoder(), scaled, "utt0")
    ok, fst = search.get_raw_lattice(True)
    raw = raw_lattice(fst)
    assert ok and raw.num_states == fst.num_states and len(raw.arcs) == sum(
        fst.num_arcs(s) for s in range(fst.num_states))
    lattice = determinize(raw, 8.0, 0.1)
    assert lattice.num_states < raw.num_states


KALDI = os.environ.get("KALDI_ROOT", "")
LATBIN = Path(KALDI) / "src" / "latbin"


@pytest.mark.skipif(not KALDI or not all((LATBIN / t).is_file() for t in ("lattice-copy", "lattice-best-path")),
                    reason="needs $KALDI_ROOT with src/latbin/lattice-copy and lattice-best-path")
def test_kaldi_reads_the_lattices_and_finds_the_same_best_paths(world, tmp_path):
    """``lattice-copy`` reads lat.1.gz back byte for byte; ``lattice-scale --inv-acoustic-scale |
    lattice-add-penalty | lattice-best-path`` (score_kaldi.sh) gives the words blasr's rescoring gives."""
    _, model, graph, matrices, _ = world
    decoder = Decoder(graph.graph_dir, model)
    lattices = {utt: decoder.decode_lattice(matrix, utt)[0] for utt, matrix in matrices.items()}
    write_lattices(tmp_path / "lat.1.gz", lattices)
    write_model(model, None, tmp_path / "final.mdl")
    bash = shutil.which("bash")

    def run(command: str) -> str:
        done = subprocess.run(command, shell=True, capture_output=True, text=True, executable=bash, check=False)
        assert done.returncode == 0 and "WARN" not in done.stderr, done.stderr
        return done.stdout

    run(f"{LATBIN}/lattice-copy 'ark:gunzip -c {tmp_path}/lat.1.gz|' ark:{tmp_path}/copy.ark")
    assert {k: compact_lattice_bytes(v) for k, v in read_lattices(tmp_path / "copy.ark")} == {
        k: compact_lattice_bytes(v) for k, v in lattices.items()}
    for lm_weight, penalty in ((7, 0.0), (10, 0.5), (17, 1.0)):
        run(f"{LATBIN}/lattice-scale --inv-acoustic-scale={lm_weight} 'ark:gunzip -c {tmp_path}/lat.1.gz|' ark:- | "
            f"{LATBIN}/lattice-add-penalty --word-ins-penalty={penalty} ark:- ark:- | "
            f"{LATBIN}/lattice-best-path --word-symbol-table={graph.graph_dir}/words.txt ark:- "
            f"ark,t:{tmp_path}/tra")
        kaldi = {utt: [decoder.words.symbol(int(w)) for w in words] for utt, words in
                 ((line.split()[0], line.split()[1:]) for line in (tmp_path / "tra").read_text().splitlines())}
        ours = {utt: [decoder.words.symbol(w) for w in path.word_ids] for utt, lattice in lattices.items()
                for path in best_paths(lattice, [(float(lm_weight), penalty)])}
        assert kaldi == ours
