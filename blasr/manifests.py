"""``python -m blasr.manifests``: lhotse cuts, recordings and supervisions from a Kaldi data dir or audio files.

    python -m blasr.manifests --kaldi-dir data/train --out data/manifests/train --sample-rate 8000
    python -m blasr.manifests --audio recordings/ extra.wav --out data/manifests/mine --sample-rate 16000
    python -m blasr.manifests --audio-list files.txt --out data/manifests/mine

A Kaldi data directory (``wav.scp``; ``segments``, ``text``, ``utt2spk``,
``reco2dur`` when present) gives one cut per utterance, ``cut.id`` = the Kaldi
utterance id, boundaries on the samples Kaldi's ``extract-segments`` takes.
Audio files (named, found under directories, or listed one a line) give one
cut per file and channel, ``cut.id`` = the file's stem. Audio at another rate
than ``--sample-rate`` is resampled as it is read (one log line per source
rate with the count); unreadable or empty files and bad segments are skipped,
counted and named in the report. Writes ``OUT/cuts.jsonl.gz``,
``recordings.jsonl.gz``, ``supervisions.jsonl.gz`` and
``manifests.report.json``; exits 1 when no cut is left. The work is
:mod:`blasr.data.manifests`.
"""

from __future__ import annotations

import sys

from blasr.data.manifests import (
    AUDIO_EXTENSIONS,
    cuts_from_audio_files,
    cuts_from_kaldi_data_dir,
    find_audio_files,
    read_path_list,
    write_manifests,
)
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.manifests", __doc__)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--kaldi-dir", metavar="DIR", help="Kaldi data directory (wav.scp, segments, text, utt2spk)")
    source.add_argument("--audio", nargs="+", metavar="PATH", help="audio files and directories holding them")
    source.add_argument("--audio-list", metavar="FILE", help="a text file naming audio files, one a line")
    p.add_argument("--out", required=True, help="output directory (cuts, recordings, supervisions, report)")
    p.add_argument("--sample-rate", type=int, default=16000, help="Hz of every cut; other rates are resampled")
    p.add_argument("--extensions", nargs="+", default=list(AUDIO_EXTENSIONS),
                   help="file endings looked for under --audio directories")
    p.add_argument("--min-segment-length", type=float, default=0.1,
                   help="--kaldi-dir: segments of at most this many seconds are skipped (extract-segments)")
    p.add_argument("--max-overshoot", type=float, default=0.5,
                   help="--kaldi-dir: segments ending this many seconds past the audio are skipped, shorter "
                        "overshoots truncated (extract-segments)")
    args = p.parse_args(argv)
    cli.setup_logging()
    if args.kaldi_dir:
        cuts, report = cuts_from_kaldi_data_dir(args.kaldi_dir, args.sample_rate,
                                                min_segment_length=args.min_segment_length,
                                                max_overshoot=args.max_overshoot)
    else:
        paths = find_audio_files(args.audio, args.extensions) if args.audio else read_path_list(args.audio_list)
        cuts, report = cuts_from_audio_files(paths, args.sample_rate)
    manifest = write_manifests(cuts, args.out, report)
    print(report.summary())
    print(f"wrote {manifest}: {len(cuts)} cuts")
    return 0 if len(cuts) else 1


if __name__ == "__main__":
    sys.exit(main())
