"""``python -m blasr.gmm``: GMM-HMM systems for frame targets and a baseline WER.

    python -m blasr.gmm train --data data/fbank/train/cuts.jsonl.gz --lang data/lang --exp exp/gmm \\
        --num-leaves 2500 --total-gauss 15000
    python -m blasr.gmm align --model exp/gmm/tri --data data/fbank/dev/cuts.jsonl.gz --lang data/lang \\
        --out exp/gmm/tri_ali_dev
    python -m blasr.gmm compute-likes --model exp/gmm/tri --data data/fbank/test/cuts.jsonl.gz --out exp/gmm/tri/test
    python -m blasr.gmm align ... --loglikes scp:exp/bl22/loglikes_train/loglikes.scp   # realign with a network

``train`` writes ``EXP/mono``, ``EXP/tri`` and ``EXP/tri_ali`` (Kaldi's
``train_mono.sh``, ``align_si.sh``, ``train_deltas.sh``; see
:mod:`blasr.kaldi.gmm.recipe`). ``compute-likes`` is ``gmm-compute-likes``: its
``loglikes.scp`` goes to ``python -m blasr.decode``. See ``docs/kaldi.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from blasr.kaldi.gmm.align import AlignOptions
from blasr.kaldi.gmm.recipe import (
    GmmFeatureOptions,
    GmmRecipeOptions,
    accumulate_job,
    align_cuts,
    compute_log_likelihoods,
    train_gmm_system,
)
from blasr.kaldi.gmm.train import MonoOptions, TriOptions, with_iterations
from blasr.utils import cli
from blasr.utils.errors import BlasrError
from blasr.utils.launch import add_cmd, add_job, job_command, run_jobs


def _train(args: argparse.Namespace) -> int:
    mono = with_iterations(MonoOptions(total_gauss=args.mono_gauss, boost_silence=args.boost_silence,
                                       seed=args.seed), args.mono_iters)
    tri = with_iterations(TriOptions(num_leaves=args.num_leaves, total_gauss=args.total_gauss,
                                     boost_silence=args.boost_silence, cluster_thresh=args.cluster_thresh,
                                     round_num_leaves=args.round_num_leaves, seed=args.seed), args.tri_iters)
    options = GmmRecipeOptions(features=GmmFeatureOptions(kind=args.feature_kind), mono_utterances=args.mono_utterances,
                               mono=mono, tri=tri, boost_silence=args.boost_silence, map_oov=args.map_oov,
                               cache_features=args.cache_features, num_jobs=args.nj, cmd=args.cmd)
    summary = train_gmm_system(args.data, args.lang, args.exp, options)
    print(json.dumps({k: summary[k] for k in ("utterances", "frames", "mono", "tri", "tri_align", "seconds")},
                     indent=1, default=str))
    return 0


def _acc_stats(args: argparse.Namespace) -> int:
    if args.job is None:
        raise BlasrError("gmm acc-stats runs one job of a training pass: give --job J --nj N (gmm train --nj N "
                         "--cmd CMD starts them)")
    realign = None if args.beam is None else AlignOptions(beam=args.beam, retry_beam=args.retry_beam)
    accumulate_job(args.dir, args.iter, args.lang, realign, args.boost_silence, args.accumulate, args.job,
                   args.nj)
    return 0


def _align(args: argparse.Namespace) -> int:
    if args.job is not None:  # one job of --cmd's: its share, to OUT/splitN/
        align_cuts(args.model, args.data, args.lang, args.out, args.boost_silence, args.map_oov, args.loglikes,
                   args.nj, job=args.job)
        return 0
    if args.cmd is not None:
        run_jobs(job_command("blasr.gmm", args.argv, args.nj), args.nj, Path(args.out) / "log" / "align.JOB.log",
                 cmd=args.cmd)
    align_cuts(args.model, args.data, args.lang, args.out, args.boost_silence, args.map_oov, args.loglikes,
               args.nj, from_jobs=args.cmd is not None)  # logs its summary
    print(f"wrote {args.out}")
    return 0


def _compute_likes(args: argparse.Namespace) -> int:
    scp, report = compute_log_likelihoods(args.model, args.data, args.out)
    print(report.summary())
    print(f"wrote {scp}")
    return 1 if report.num_skipped else 0


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.gmm", __doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = cli.subparser(sub, "train", "mono -> tri GMM-HMM systems and the training alignments")
    t.add_argument("--data", required=True, help="training cuts with features (python -m blasr.compute_features)")
    t.add_argument("--lang", required=True, help="lang directory (python -m blasr.prepare_lang)")
    t.add_argument("--exp", required=True, help="experiment directory")
    t.add_argument("--feature-kind", choices=("mfcc", "fbank"), default="mfcc",
                   help="cepstra of the stored log-mel (mfcc) or the log-mel itself (fbank); + delta + delta-delta")
    t.add_argument("--mono-utterances", type=int, default=1000, help="shortest utterances for the monophones")
    t.add_argument("--mono-iters", type=int, default=MonoOptions.num_iters, help="monophone training iterations")
    t.add_argument("--mono-gauss", type=int, default=MonoOptions.total_gauss, help="monophone Gaussians in all")
    t.add_argument("--num-leaves", type=int, default=TriOptions.num_leaves,
                   help="the tree's leaves at most (build-tree --max-leaves; fewer after merging or when no "
                        "split gains): its pdfs, the network's classes (num_pdfs)")
    t.add_argument("--cluster-thresh", type=float, default=TriOptions.cluster_thresh,
                   help="build-tree --cluster-thresh: after splitting, merge leaves of one root while a merge "
                        "loses less likelihood than this; -1: the smallest split's gain (Kaldi's default), "
                        "0: no merging")
    t.add_argument("--round-num-leaves", action=argparse.BooleanOptionalAction, default=TriOptions.round_num_leaves,
                   help="build-tree --round-num-leaves: merge further down to a multiple of 8 (Kaldi's default); "
                        "--cluster-thresh 0 --no-round-num-leaves keeps exactly --num-leaves")
    t.add_argument("--total-gauss", type=int, default=TriOptions.total_gauss, help="triphone Gaussians in all")
    t.add_argument("--tri-iters", type=int, default=TriOptions.num_iters, help="triphone training iterations")
    t.add_argument("--boost-silence", type=float, default=1.0, help="Kaldi's --boost-silence (swbd: 1.25)")
    t.add_argument("--map-oov", action="store_true", help="map unknown words to the lang's OOV word")
    t.add_argument("--cache-features", action=argparse.BooleanOptionalAction, default=True,
                   help="keep GMM features in memory (off for corpora larger than RAM)")
    t.add_argument("--seed", type=int, default=0, help="decides the random choices of training")
    cli.add_nj(t, 1, "jobs that realign and accumulate each training pass, each a share of the utterances "
                     "(Kaldi's nj; summed as gmm-sum-accs, the result equals one job's)")
    add_cmd(t)
    t.set_defaults(run=_train)
    j = cli.subparser(sub, "acc-stats", "one job of a training pass (gmm-align-compiled + gmm-acc-stats-ali), "
                      "as gmm train --nj N --cmd CMD starts it")
    j.add_argument("--dir", required=True, help="the stage's directory: ITER.mdl, tree, gmm_features.json, splitN/")
    j.add_argument("--iter", type=int, required=True, help="the pass: reads ITER.mdl, writes ITER.JOB.acc.npz")
    j.add_argument("--lang", required=True, help="lang directory")
    cli.add_nj(j, 1, "the number of jobs of the pass (the split's N)")
    add_job(j)
    j.add_argument("--beam", type=float, help="realign first with this beam (default: keep splitN/ali.JOB.gz)")
    j.add_argument("--retry-beam", type=float, default=40.0, help="the realignment's retry beam")
    j.add_argument("--boost-silence", type=float, default=1.0, help="Kaldi's --boost-silence for the realignment")
    j.add_argument("--accumulate", action=argparse.BooleanOptionalAction, default=True,
                   help="write the statistics (--no-accumulate: realign only)")
    j.set_defaults(run=_acc_stats)
    a = cli.subparser(sub, "align", "align_si.sh: alignments of new data with a trained system")
    a.add_argument("--model", required=True, help="model directory: final.mdl, tree, gmm_features.json")
    a.add_argument("--data", required=True, help="cuts with features and supervision text")
    a.add_argument("--lang", required=True, help="lang directory")
    a.add_argument("--out", required=True, help="alignment directory (final.mdl, tree, ali.1.gz, counts)")
    a.add_argument("--boost-silence", type=float, default=1.0, help="Kaldi's --boost-silence (swbd: 1.25)")
    a.add_argument("--map-oov", action="store_true", help="map unknown words to the lang's OOV word")
    a.add_argument("--loglikes", metavar="RSPECIFIER",
                   help="align with these (frames, pdfs) scores instead of the GMMs, e.g. a network's "
                        "scp:EXP/loglikes_train/loglikes.scp (align-compiled-mapped)")
    cli.add_nj(a, 1, "alignment processes, each a share of the utterances (Kaldi's nj)")
    add_cmd(a)
    add_job(a)
    a.set_defaults(run=_align)
    c = cli.subparser(sub, "compute-likes", "gmm-compute-likes: per-frame log-likelihoods as a Kaldi archive")
    c.add_argument("--model", required=True, help="model directory: final.mdl, tree, gmm_features.json")
    c.add_argument("--data", required=True, help="cuts with features")
    c.add_argument("--out", required=True, help="output directory (loglikes.ark, loglikes.scp)")
    c.set_defaults(run=_compute_likes)
    args = p.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv  # what the jobs of --cmd run again
    cli.setup_logging()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
