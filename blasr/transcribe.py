"""``python -m blasr.transcribe SYSTEM INPUT...``: words of any audio with a system directory (blasr.package).

    python -m blasr.transcribe exp/bl_resnet22_a2b3/system my.wav other.flac > text
    python -m blasr.transcribe exp/bl_resnet22_a2b3/system data/corpus/test --text data/corpus/test/text --nj 2
    python -m blasr.transcribe exp/gmm/tri/system wav.scp --ctm out.ctm
    python -m blasr.transcribe exp/bl_resnet22_a2b3/system my.wav --online --chunk-ms 100 --partial

INPUT: audio files (WAV / FLAC / SPHERE, any sample rate and channel count: down-mixed and resampled, one
log line per rate and channel count), directories of them, a wav.scp, a Kaldi data directory (wav.scp,
segments) or a lhotse cut manifest (*.jsonl.gz). Prints one Kaldi text line per utterance on stdout
(`utterance-id word word ...`; the id of a file is its stem). Decoding is the recipe's: the network (or
GMM) of the system, its graph, the LM weight and penalty chosen on dev. An input that cannot be read or
decoded is named on stderr and counted; the others are still transcribed, and the exit status is 1 when
any failed. The summary (and, with --text, the %WER line) goes to stderr. --online streams each input
in chunks (network systems): features, network and search advance chunk by chunk, --partial prints the
partial transcripts on stderr as they change, the final line goes to stdout as offline; the summary adds
the compute per chunk and the real-time factor. The work is
:func:`blasr.inference.system.transcribe_inputs`.
"""

from __future__ import annotations

import logging
import sys
import time

import numpy as np

from blasr.inference.audio import find_inputs
from blasr.inference.system import OnlineOptions, System, SystemDirError, Transcript, transcribe_inputs
from blasr.kaldi.scoring.wer import read_text, score
from blasr.utils import cli

logger = logging.getLogger("blasr")


@cli.program
def main(argv: list[str] | None = None) -> int:
    start = time.perf_counter()
    p = cli.parser("blasr.transcribe", __doc__)
    p.add_argument("system", help="a system directory (python -m blasr.package)")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="audio files or directories, a wav.scp, a Kaldi data directory or a cut manifest")
    p.add_argument("--ctm", help="also write the words' times to this CTM file (needs the system's word boundaries "
                                 "or alignment lexicon)")
    p.add_argument("--text", help="reference transcripts (Kaldi text file): print the %%WER line on stderr")
    cli.add_nj(p, 1, "processes, each loading the system and taking a share of the inputs")
    p.add_argument("--device", choices=("cuda", "cpu"), default=None,
                   help="where the network runs (default: cuda when available)")
    p.add_argument("--online", action="store_true", help="stream each input in chunks, as audio arriving live")
    p.add_argument("--chunk-ms", type=float, default=100.0, help="with --online: the chunk length (ms)")
    p.add_argument("--partial", action="store_true",
                   help="with --online: print each partial transcript on stderr when it changes (--nj 1)")
    p.add_argument("--final-pass", action="store_true",
                   help="with --online: decode the whole utterance again at its end (per-utterance normalisation, "
                        "as offline): the final line is the offline one, one offline decode later")
    args = p.parse_args(argv)
    if (args.partial or args.final_pass) and not args.online:
        p.error("--partial and --final-pass need --online")
    if args.partial and args.nj > 1:
        p.error("--partial needs --nj 1 (the partial transcripts of one stream at a time)")
    if args.chunk_ms <= 0:
        p.error(f"--chunk-ms must be positive, not {args.chunk_ms:g}")
    cli.setup_logging()
    system = System.load(args.system, args.device)  # checked here, before any process starts
    if args.ctm and not system.has_word_times:
        raise SystemDirError(f"{args.system} has neither word boundaries (phones/word_boundary.int) nor an "
                             "alignment lexicon (phones/align_lexicon.int): no --ctm; package it with --lexicon")
    online = OnlineOptions(args.chunk_ms, args.final_pass) if args.online else None
    if online is not None:
        system.stream()  # refuses a system that cannot stream, before any input
    inputs = find_inputs(args.inputs, system.sample_rate)
    refs = read_text(args.text) if args.text else None
    logger.info("loaded %s in %.2f s: %d utterances to transcribe", args.system, time.perf_counter() - start,
                len(inputs))
    hyps: dict[str, list[str]] = {}
    failed: list[str] = []
    ctm_lines: list[str] = []
    frames = 0
    chunk_seconds: list[float] = []
    finalize_seconds: list[float] = []

    def show_partial(partial: Transcript) -> None:
        print(f"{partial.utterance} (partial) {partial.text}", file=sys.stderr, flush=True)

    for item, outcome in transcribe_inputs(args.system, inputs, args.device, args.nj,
                                            system if args.nj == 1 else None, online,
                                            show_partial if args.partial else None):
        if isinstance(outcome, str):
            logger.error("%s", outcome)
            failed.append(item.utterance)
            continue
        if not hyps:
            logger.info("first result %.2f s after start", time.perf_counter() - start)
        hyps[item.utterance] = [w.word for w in outcome.words]
        frames += outcome.num_frames
        chunk_seconds += outcome.chunk_seconds
        if outcome.finalize_seconds is not None:
            finalize_seconds.append(outcome.finalize_seconds)
        print(" ".join([item.utterance, *hyps[item.utterance]]), flush=True)
        ctm_lines += [f"{item.utterance} 1 {w.start:.3f} {w.duration:.3f} {w.word}" for w in outcome.words
                      if w.start is not None]
    if args.ctm:
        with open(args.ctm, "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in ctm_lines))
    seconds = time.perf_counter() - start
    audio_seconds = frames * system.fbank.frame_shift_seconds
    print(f"transcribed {len(hyps)} of {len(inputs)} utterances ({audio_seconds:.1f} s of audio) in {seconds:.2f} s"
          f"; {len(failed)} failed" + (f": {' '.join(failed)}" if failed else ""), file=sys.stderr)
    if online is not None and chunk_seconds:
        compute = sum(chunk_seconds) + sum(finalize_seconds)
        print(f"online, {args.chunk_ms:g} ms chunks{', final pass' if args.final_pass else ''}: compute per chunk "
              f"median {1000 * np.median(chunk_seconds):.1f} ms, 90th percentile "
              f"{1000 * np.percentile(chunk_seconds, 90):.1f} ms; end of utterance median "
              f"{1000 * np.median(finalize_seconds):.1f} ms; real-time factor {compute / max(audio_seconds, 1e-9):.3f}",
              file=sys.stderr)
    if refs is not None:
        print(score(refs, hyps).total.kaldi_line(), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
