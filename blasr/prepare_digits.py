"""``python -m blasr.prepare_digits --out DIR``: the spoken-digits corpus, synthesized with espeak-ng.

    python -m blasr.prepare_digits --out data/digits [--seed 0] [--num-train 2000] [--num-dev 200] \\
        [--num-test 300] [--num-dev-speakers 8] [--num-test-speakers 12] [--nj 2] ...

Writes lhotse manifests and Kaldi data directories per split (train, dev,
test), the WAVs and a Kaldi dict directory; the same settings again only load
the finished corpus. The work is :func:`blasr.data.digits.prepare_digits`
(see :mod:`blasr.data.digits` for how utterances are made).

``--other-synth`` adds the part ``test_other`` (the test utterances spoken by
every flite voice that can say every digit word,
:func:`blasr.data.digits.prepare_other_synth`),
``--telephone`` the part ``test_tel`` (the test audio through an 8 kHz round
trip, :func:`blasr.data.digits.prepare_telephone`); both are held-out test
conditions and are remade only when the corpus or flite changes.
"""

from __future__ import annotations

import sys

from blasr.data.digits import SPLITS, DigitsConfig, prepare_digits, prepare_other_synth, prepare_telephone
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    defaults = DigitsConfig()
    p = cli.parser("blasr.prepare_digits", __doc__)
    p.add_argument("--out", required=True, help="output directory, e.g. data/digits")
    p.add_argument("--seed", type=int, default=defaults.seed, help="decides every random choice")
    for split in SPLITS:
        p.add_argument(f"--num-{split}", type=int, default=getattr(defaults, f"num_{split}"),
                       help=f"{split} utterances")
    p.add_argument("--num-dev-speakers", type=int, default=defaults.num_dev_speakers,
                   help="held-out (voice, variant) speakers for dev")
    p.add_argument("--num-test-speakers", type=int, default=defaults.num_test_speakers,
                   help="held-out (voice, variant) speakers for test")
    p.add_argument("--sample-rate", type=int, default=defaults.sample_rate, help="Hz of the written WAVs")
    p.add_argument("--min-digits", type=int, default=defaults.min_digits, help="fewest digits in an utterance")
    p.add_argument("--max-digits", type=int, default=defaults.max_digits, help="most digits in an utterance")
    p.add_argument("--voices", default=None,
                   help="comma-separated espeak-ng base voices (default: every non-MBROLA English voice)")
    cli.add_nj(p, 2, "espeak-ng processes at once (the corpus does not depend on it)", old=["--num-jobs"])
    p.add_argument("--overwrite", action="store_true", help="rebuild a corpus made with other settings")
    p.add_argument("--other-synth", action="store_true",
                   help="also make test_other: the test utterances spoken by flite (a held-out synthesizer)")
    p.add_argument("--other-voices", default=None,
                   help="comma-separated flite voices for test_other (default: every voice flite has that speaks "
                        "no two digit words alike, so not the talking clock awb_time)")
    p.add_argument("--telephone", action="store_true",
                   help="also make test_tel: the test audio resampled to 8 kHz and back")
    args = p.parse_args(argv)
    cli.setup_logging()
    config = DigitsConfig(
        seed=args.seed, num_train=args.num_train, num_dev=args.num_dev, num_test=args.num_test,
        num_dev_speakers=args.num_dev_speakers, num_test_speakers=args.num_test_speakers,
        sample_rate=args.sample_rate, min_digits=args.min_digits, max_digits=args.max_digits,
        voices=tuple(args.voices.split(",")) if args.voices else None,
    )
    prepare_digits(args.out, config, num_jobs=args.nj, overwrite=args.overwrite)
    if args.other_synth:
        prepare_other_synth(args.out, num_jobs=args.nj, overwrite=args.overwrite,
                            voices=tuple(args.other_voices.split(",")) if args.other_voices else None)
    if args.telephone:
        prepare_telephone(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
