"""``python -m blasr.decode``: decode exported log-likelihoods on an HCLG graph and score them.

    python -m blasr.decode --graph exp/tri3/graph --model exp/tri3/final.mdl \\
        --loglikes scp:exp/bl22/export_test/loglikes.scp --text data/test/text --out exp/bl22/decode_test
    ... --sweep 7:17                  # LM weights 7..17 x penalties 0, 0.5, 1; the best is kept (score.sh)
    ... --setting-from exp/bl22/decode_dev   # the LM weight and penalty chosen on dev, for a test set
    python -m blasr.decode --graph ... --model ... --nnet exp/bl22/final.pt --data data/fbank/test/cuts.jsonl.gz \\
        --out exp/bl22/decode_test --nj 4       # score with the network on the fly: no archive on disk

A sweep searches once per setting (kaldi-hmm-gmm's lattice-faster decoder); with ``--lattices`` each
utterance is decoded once into a lattice (``OUT/lat.N.gz``, one archive per job, Kaldi's format) and the
sweep rescores the lattices (kaldi-decoder's lattice decoder: see docs/kaldi.md for its speed and search
errors). With a lang of position-dependent phones (``phones/word_boundary.int`` in the graph directory)
the 1-best's word times go to ``OUT/ctm``. With ``--cmd CMD`` the decoding runs as ``--nj`` jobs through
that launcher (logs ``OUT/log/decode.JOB.log``, lattices ``OUT/lat.JOB.gz``); each job decodes its share
under every setting and the program scores them all, as one process would. Prints the RTF summary and the
``%WER`` line; exits 1 if any utterance failed.
The work is :func:`blasr.kaldi.decoding.decode_dir.decode_and_score`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from blasr.inference import NetworkScores, NnetForwardOptions
from blasr.kaldi.decoding.decode import DecodeOptions, check_num_pdfs
from blasr.kaldi.decoding.decode_dir import decode_and_score, read_best_setting, remove_lattices
from blasr.kaldi.formats.model import read_transition_model
from blasr.utils import cli
from blasr.utils.launch import add_cmd, add_job, job_command, run_jobs
from blasr.utils.lock import lock_directory
from blasr.utils.machine import threads_per_job


def _lm_weights(text: str) -> list[float]:
    start, _, stop = text.partition(":")
    return [float(w) for w in range(int(start), int(stop or start) + 1)]


@cli.program
def main(argv: list[str] | None = None) -> int:
    defaults = DecodeOptions()
    p = cli.parser("blasr.decode", __doc__)
    p.add_argument("--graph", required=True, help="HCLG.fst, or the graph directory holding it and words.txt")
    p.add_argument("--model", required=True, help="final.mdl (its transition model maps graph labels to pdfs)")
    scores = p.add_mutually_exclusive_group(required=True)
    scores.add_argument("--loglikes", help="Kaldi rspecifier of (frames, pdfs) matrices, e.g. scp:loglikes.scp")
    scores.add_argument("--nnet", metavar="FINAL_PT",
                        help="score with this network on the fly (what python -m blasr.export would write, never "
                             "stored); needs --data")
    p.add_argument("--data", help="with --nnet: cuts with features")
    p.add_argument("--prior-scale", type=float, default=1.0, help="with --nnet: nnet-forward's --prior-scale")
    p.add_argument("--device", choices=("cuda", "cpu"), default=None,
                   help="with --nnet: default cuda when available")
    p.add_argument("--out", required=True, help="output directory (text, wer, per_utt, failed)")
    p.add_argument("--text", help="reference transcripts (Kaldi text file) to score against (default: no scoring)")
    p.add_argument("--words", help="words.txt (default: the graph directory's)")
    p.add_argument("--acoustic-scale", type=float, default=defaults.acoustic_scale,
                   help="scale of the acoustic scores (1 / LM weight)")
    p.add_argument("--beam", type=float, default=defaults.beam, help="decoding beam")
    p.add_argument("--lattice-beam", type=float, default=defaults.lattice_beam, help="lattice beam")
    p.add_argument("--max-active", type=int, default=defaults.max_active, help="most active states a frame")
    p.add_argument("--word-insertion-penalty", type=float, default=defaults.word_insertion_penalty,
                   help="added to every word's cost (score.sh's word_ins_penalty)")
    p.add_argument("--sweep", metavar="LO:HI", type=_lm_weights,
                   help="sweep LM weights LO..HI x penalties 0, 0.5, 1 and keep the best (needs --text; "
                        "default: no sweep)")
    p.add_argument("--setting-from", metavar="DECODE_DIR",
                   help="use the LM weight and penalty that --sweep chose there (acoustic scale 1 / LMWT)")
    cli.add_nj(p, 1, "decoding processes, each taking a share of the utterances (Kaldi's nj)")
    p.add_argument("--ignore", nargs="*", default=(), help="words left out of scoring, e.g. '[noise]'")
    p.add_argument("--lattices", action="store_true",
                   help="decode each utterance once into a lattice, write lat.N.gz and rescore them for the sweep "
                        "(default: a search per setting, no lattices)")
    p.add_argument("--segments", help="Kaldi segments file: the ctm in recording times (convert_ctm.pl)")
    add_cmd(p)
    add_job(p)
    args = p.parse_args(argv)
    if args.nnet and not args.data:
        p.error("--nnet needs --data (the cuts to score)")
    args.argv = sys.argv[1:] if argv is None else argv  # what the jobs of --cmd run again
    cli.setup_logging()
    return decode(args)


def decode(args: argparse.Namespace) -> int:
    """The work of :func:`main`: inputs checked first, then the decoding while holding ``--out``'s lock (so a
    refused run creates nothing)."""
    if args.setting_from:
        lm_weight, args.word_insertion_penalty = read_best_setting(args.setting_from)
        args.acoustic_scale = 1.0 / lm_weight
        logging.getLogger("blasr").info("LM weight %g, penalty %g from %s", lm_weight, args.word_insertion_penalty,
                                        args.setting_from)
    options = DecodeOptions(acoustic_scale=args.acoustic_scale, beam=args.beam, lattice_beam=args.lattice_beam,
                            max_active=args.max_active, word_insertion_penalty=args.word_insertion_penalty)
    loglikes = args.loglikes
    if args.nnet:
        threads = threads_per_job(args.nj)  # the decoding processes share the cores
        loglikes = NetworkScores(args.nnet, args.data, NnetForwardOptions(prior_scale=args.prior_scale),
                                 device=args.device, threads=threads)
        # loaded once here (decoding processes load their own copy; with --nj 1 this one scores)
        check_num_pdfs(loglikes.trained.num_classes, read_transition_model(args.model), args.nnet)

    def decode_dir(**split):
        return decode_and_score(loglikes, args.graph, args.model, args.out, args.text, args.words, options,
                                args.sweep, ignore=args.ignore, num_jobs=args.nj, lattices=args.lattices,
                                segments=args.segments, **split)

    if args.job is not None:  # one job of --cmd's (its driver holds OUT's lock): its share
        decode_dir(job=args.job)
        return 0
    with lock_directory(args.out, "wait for it to finish, stop it, or choose another --out"):
        if args.cmd is not None:
            if args.lattices:
                remove_lattices(args.out)  # an earlier run's lat.J.gz (the jobs write theirs)
            run_jobs(job_command("blasr.decode", args.argv, args.nj), args.nj, Path(args.out) / "log" /
                     "decode.JOB.log", cmd=args.cmd)
        result = decode_dir(from_jobs=args.cmd is not None)
    if result.counts is not None:  # the decoding's summary is logged
        name = f" (LMWT {result.setting[0]:g}, WIP {result.setting[1]:g})" if result.setting else ""
        print(result.counts.kaldi_line(args.out) + name)
    else:
        print(f"wrote {os.path.join(args.out, 'text')}")
    return 1 if result.decoding.failed else 0


if __name__ == "__main__":
    sys.exit(main())
