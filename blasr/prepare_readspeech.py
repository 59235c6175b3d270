"""``python -m blasr.prepare_readspeech --out DIR``: read English sentences (the KJV), synthesized with espeak-ng.

    python -m blasr.prepare_readspeech --out data/corpus [--hours 2] [--num-dev 200] [--num-test 200] \\
        [--text FILE] [--nj 2] ...

Writes lhotse manifests and Kaldi data directories per split (train, dev,
test: speakers and sentences disjoint), the WAVs, a Kaldi dict directory from
CMUdict (39 ARPAbet phones + SIL) and the LM training text (``lm/text``);
the same settings again only load the finished corpus. The text is the King
James Bible printed by Debian's ``bible`` (package bible-kjv) unless
``--text`` gives another. The work is
:func:`blasr.data.readspeech.prepare_readspeech` (see :mod:`blasr.data.readspeech`).
"""

from __future__ import annotations

import sys

from blasr.data.readspeech import ReadSpeechConfig, prepare_readspeech
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    defaults = ReadSpeechConfig()
    p = cli.parser("blasr.prepare_readspeech", __doc__)
    p.add_argument("--out", required=True, help="output directory, e.g. data/corpus")
    p.add_argument("--seed", type=int, default=defaults.seed, help="decides every random choice")
    p.add_argument("--hours", type=float, default=defaults.hours,
                   help="training speech in hours (estimated from the word counts before synthesis)")
    p.add_argument("--num-dev", type=int, default=defaults.num_dev, help="dev utterances (held-out sentences)")
    p.add_argument("--num-test", type=int, default=defaults.num_test, help="test utterances (held-out sentences)")
    p.add_argument("--num-dev-speakers", type=int, default=defaults.num_dev_speakers,
                   help="held-out (voice, variant) speakers for dev")
    p.add_argument("--num-test-speakers", type=int, default=defaults.num_test_speakers,
                   help="held-out (voice, variant) speakers for test")
    p.add_argument("--min-words", type=int, default=defaults.min_words, help="fewest words in a spoken sentence")
    p.add_argument("--max-words", type=int, default=defaults.max_words, help="most words in a spoken sentence")
    p.add_argument("--sample-rate", type=int, default=defaults.sample_rate, help="Hz of the written WAVs")
    p.add_argument("--text", default=None,
                   help="UTF-8 text, one passage a line, instead of the KJV (default: the KJV from 'bible')")
    p.add_argument("--voices", default=None,
                   help="comma-separated espeak-ng base voices (default: every non-MBROLA English voice)")
    cli.add_nj(p, 2, "espeak-ng processes at once (the corpus does not depend on it)")
    p.add_argument("--overwrite", action="store_true", help="rebuild a corpus made with other settings")
    args = p.parse_args(argv)
    cli.setup_logging()
    config = ReadSpeechConfig(
        seed=args.seed, hours=args.hours, num_dev=args.num_dev, num_test=args.num_test,
        num_dev_speakers=args.num_dev_speakers, num_test_speakers=args.num_test_speakers,
        min_words=args.min_words, max_words=args.max_words, sample_rate=args.sample_rate, text=args.text,
        voices=tuple(args.voices.split(",")) if args.voices else None,
    )
    prepare_readspeech(args.out, config, num_jobs=args.nj, overwrite=args.overwrite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
