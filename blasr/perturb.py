"""``python -m blasr.perturb --cuts CUTS --out DIR``: perturbed copies of a cut manifest (lazy, no audio written).

    python -m blasr.perturb --cuts data/corpus/train/cuts.jsonl.gz --out data/corpus/train_sp    # Kaldi's 3-way speed
    python -m blasr.perturb --cuts data/corpus/train/cuts.jsonl.gz --out data/corpus/train_mc \\
        --speeds 0.9 1.0 1.1 --volume 0.125 2 --augment noise babble reverb telephone --augment-copies one --seed 0

Speed copies (``sp0.9-``, ``sp1.0-``, ``sp1.1-`` on utterance, recording and
speaker ids, as Kaldi's ``perturb_data_dir_speed_3way.sh``), a random gain in
place on every copy (``perturb_data_dir_volume.sh``), and augmented copies of
every speed copy (``noise-``: white, pink or brown noise at a random SNR;
``babble-``: other utterances of the set; ``reverb-``: a simulated room;
``tel-``: 8 kHz round trip with a 300-3400 Hz band-pass; ``eq-``: a random
equaliser, 3-6 peaking filters of +-12 dB). The perturbations
are lhotse transforms stored in ``OUT/cuts.jsonl.gz`` and applied when the
audio is read: run ``python -m blasr.features`` on it next. Speed copies need
new alignments: ``python -m blasr.gmm align`` on their features, then
``python -m blasr.targets``. Writes ``perturb.json`` (the options),
``perturb.report.json`` and Kaldi's ``text`` / ``utt2spk`` of the copies;
deterministic for a ``--seed``. The work is :mod:`blasr.data.perturb`.
"""

from __future__ import annotations

import argparse
import sys

from blasr.data.perturb import AUGMENTATIONS, KALDI_SPEEDS, PerturbOptions, write_perturbed
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.perturb", __doc__)
    d = PerturbOptions()
    p.add_argument("--cuts", required=True, help="cut manifest with recordings (features, if any, are dropped)")
    p.add_argument("--out", required=True, help="output directory (cuts.jsonl.gz, perturb.json, report)")
    p.add_argument("--speeds", type=float, nargs="+", default=list(KALDI_SPEEDS),
                   help="speed factors, one copy each (just 1.0: no speed copies, ids unchanged)")
    p.add_argument("--volume", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="random gain in [LOW, HIGH] on every copy, in place (Kaldi: 0.125 2); default none")
    p.add_argument("--augment", nargs="+", choices=AUGMENTATIONS, default=[],
                   help="augmented copies of every speed copy; default none")
    p.add_argument("--augment-copies", choices=("each", "one"), default=d.augment_copies,
                   help="each: one copy per --augment kind; one: a single copy, its kind drawn per recording")

    def add_range(flag: str, default: tuple, help: str, kind: type = float) -> None:
        p.add_argument(flag, type=kind, nargs=2, default=list(default), metavar=("LOW", "HIGH"), help=help)

    add_range("--noise-snr", d.noise_snr, "SNR range (dB) of noise copies")
    add_range("--babble-snr", d.babble_snr, "SNR range (dB) of babble copies")
    add_range("--babble-speakers", d.babble_speakers, "how many other utterances make one babble", int)
    p.add_argument("--babble-pool", type=int, default=d.babble_pool,
                   help="babble is drawn from this many first cuts of --cuts")
    add_range("--reverb-t60", d.reverb_t60, "range of the simulated rooms' T60 (s)")
    add_range("--reverb-drr", d.reverb_drr, "range of their direct-to-reverberant ratio (dB)")
    add_range("--telephone-band", d.telephone_band, "band-pass (Hz) of telephone copies")
    p.add_argument("--no-telephone-band", action="store_true", help="telephone copies: the 8 kHz round trip alone")
    p.add_argument("--telephone-mulaw", action=argparse.BooleanOptionalAction, default=d.telephone_mulaw,
                   help="telephone copies: 8-bit mu-law at 8 kHz")
    add_range("--eq-bands", d.eq_bands, "how many peaking filters a random-EQ copy has", int)
    add_range("--eq-freq", d.eq_freq, "range of their centres (Hz, log-uniform)")
    add_range("--eq-gain", d.eq_gain, "range of their gains (dB)")
    add_range("--eq-q", d.eq_q, "range of their Q (log-uniform)")
    p.add_argument("--seed", type=int, default=d.seed, help="decides every random draw")
    p.add_argument("--overwrite", action="store_true", help="remake even a completed output directory")
    args = p.parse_args(argv)
    cli.setup_logging()
    options = PerturbOptions(
        speeds=tuple(args.speeds), volume=tuple(args.volume) if args.volume else None, augment=tuple(args.augment),
        augment_copies=args.augment_copies, noise_snr=tuple(args.noise_snr), babble_snr=tuple(args.babble_snr),
        babble_speakers=tuple(args.babble_speakers), babble_pool=args.babble_pool,
        reverb_t60=tuple(args.reverb_t60), reverb_drr=tuple(args.reverb_drr),
        telephone_band=None if args.no_telephone_band else tuple(args.telephone_band),
        telephone_mulaw=args.telephone_mulaw, eq_bands=tuple(args.eq_bands), eq_freq=tuple(args.eq_freq),
        eq_gain=tuple(args.eq_gain), eq_q=tuple(args.eq_q), seed=args.seed,
    )
    return cli.write_and_report(lambda: write_perturbed(args.cuts, args.out, options, overwrite=args.overwrite))


if __name__ == "__main__":
    sys.exit(main())
