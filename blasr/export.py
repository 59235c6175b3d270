"""Export a trained model's outputs as Kaldi archives for decoding; see docs/training.md.

    python -m blasr.export --model exp/bl_resnet22_a2b3/final.pt \\
        --data exp/data/eval2000/cuts.jsonl.gz --out exp/bl_resnet22_a2b3/export_eval2000

Writes OUT/loglikes.{ark,scp}: per utterance log(posterior + 1e-20) - prior_scale
* log(prior), exactly as Kaldi nnet1's `nnet-forward --apply-log
--class-frame-counts=<the model's priors.counts>`, for `latgen-faster-mapped`.
Exits with status 1 if any utterance failed (OUT/export.report.json names them
with the reason), or if another export is writing OUT (the refusal names it).
With ``--cmd CMD --nj N`` the export runs as N jobs through that launcher (logs
OUT/log/export.JOB.log), job J writing OUT/NAME.J.ark; OUT/NAME.scp indexes
them all, in the manifest's order. A speaker / side normalised model's
statistics are computed over all of --data first and given to every job.
Only parses options; the work is :func:`blasr.inference.export.export_posteriors`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from blasr.inference import NnetForwardOptions, export_posteriors
from blasr.inference.export import job_cmvn, merge_job_exports
from blasr.utils import cli
from blasr.utils.distributed import setup_logging
from blasr.utils.launch import LauncherError, add_cmd, add_job, job_command, run_jobs
from blasr.utils.lock import lock_directory


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("blasr.export", __doc__)
    p.add_argument("--model", required=True, help="EXP/final.pt, or a training checkpoint EXP/checkpoints/*.pt")
    p.add_argument("--data", required=True, help="cuts with features (blasr.features.compute_features)")
    p.add_argument("--out", required=True, help="output directory (the report and settings; the archive too "
                   "unless --wspecifier)")
    p.add_argument("--wspecifier", default=None,
                   help="Kaldi wspecifier for the archive, e.g. ark:- (standard output, to pipe into "
                        "latgen-faster-mapped), ark,t:-, 'ark:| gzip -c > x.gz', ark,scp:x.ark,x.scp "
                        "(default: ark,scp:OUT/NAME.ark,OUT/NAME.scp)")
    p.add_argument("--apply-log", action=argparse.BooleanOptionalAction, default=True,
                   help="log(posterior + 1e-20), as nnet-forward --apply-log (default: on)")
    p.add_argument("--no-softmax", action="store_true",
                   help="write the logits (nnet-forward --no-softmax); implies --no-apply-log")
    p.add_argument("--priors", action=argparse.BooleanOptionalAction, default=True,
                   help="subtract prior-scale x log-priors: pseudo log-likelihoods (default: on)")
    p.add_argument("--class-frame-counts", default=None, metavar="FILE",
                   help="class counts, Kaldi text vector (default: the model's, EXP/priors.counts)")
    p.add_argument("--prior-scale", type=float, default=1.0,
                   help="scale of the log-priors subtracted (nnet-forward's --prior-scale)")
    p.add_argument("--prior-floor", type=float, default=1e-10,
                   help="classes with a lower relative frequency are disabled")
    p.add_argument("--chunk-frames", type=int, default=3000,
                   help="run longer utterances in chunks of this many frames, same numbers (0: always whole)")
    p.add_argument("--device", choices=("cuda", "cpu"), default=None,
                   help="where the model runs (default: cuda when available)")
    cli.add_use_gpu(p)
    p.add_argument("--amp", action="store_true", help="bf16 autocast on GPU (default: float32)")
    p.add_argument("--optimize", action=argparse.BooleanOptionalAction, default=True,
                   help="fold batch norm into the convolutions and run channels-last (the default: 1.2-1.4x "
                        "faster on CPU, the same outputs within 5e-4 + 1e-4 |x|; --no-optimize: the model as trained)")
    p.add_argument("--name", default=None, help="archive name (default: loglikes, logpost, logits or post)")
    p.add_argument("--cmvn", default=None,
                   help="CmvnTable for speaker / side normalised models (default: computed over --data)")
    cli.add_nj(p, 1, "with --cmd: jobs, each exporting a contiguous share of --data (without --cmd: one process)")
    add_cmd(p)
    add_job(p)
    return p


@cli.program
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.cmd is not None and args.wspecifier:
        raise LauncherError("--cmd writes one archive per job (OUT/NAME.JOB.ark, indexed by OUT/NAME.scp); it cannot "
                     "write to --wspecifier: leave one of them out")
    with setup_logging(0):
        options = NnetForwardOptions(apply_log=args.apply_log and not args.no_softmax,
                                     no_softmax=args.no_softmax, prior_scale=args.prior_scale,
                                     prior_floor=args.prior_floor)

        def export(job: int | None = None):
            return export_posteriors(
                args.model, args.data, args.out, options, use_priors=args.priors,
                class_frame_counts=args.class_frame_counts, chunk_frames=args.chunk_frames or None,
                device=args.device, amp=args.amp, name=args.name, cmvn=args.cmvn, progress=True,
                optimize=args.optimize, wspecifier=args.wspecifier, job=job, num_jobs=args.nj)

        if args.job is not None:  # one job of --cmd's (its driver holds OUT's lock): its share
            export(args.job)
            return
        with lock_directory(args.out, "wait for it to finish, stop it, or choose another --out"):
            if args.cmd is None:
                result = export()
            else:
                command = job_command("blasr.export", sys.argv[1:] if argv is None else argv, args.nj)
                cmvn = job_cmvn(args.model, args.data, args.out, args.nj, args.cmvn)
                run_jobs(command + (["--cmvn", str(cmvn)] if cmvn else []), args.nj,
                         Path(args.out) / "log" / "export.JOB.log", cmd=args.cmd)
                result = merge_job_exports(args.out, args.nj)
        if result.failed:
            logging.getLogger("blasr.export").error(
                "%d of %d utterances failed; see %s", result.failed, result.failed + result.report.kept,
                f"{args.out}/export.report.json")
            raise SystemExit(1)


if __name__ == "__main__":
    sys.exit(main())
