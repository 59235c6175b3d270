"""``python -m blasr.package``: one directory with everything a trained system needs to recognise speech.

    python -m blasr.package --nnet exp/bl_resnet22_a2b3/final.pt --model exp/gmm/tri/final.mdl \\
        --graph exp/gmm/tri/graph --setting-from exp/bl_resnet22_a2b3/decode_dev --out exp/bl_resnet22_a2b3/system \\
        --cmvn-from data/fbank/train/cuts.jsonl.gz --lexicon data/corpus/dict/lexicon.txt
    python -m blasr.package --gmm exp/gmm/tri --graph exp/gmm/tri/graph --fbank data/fbank/train/fbank.json \\
        --setting-from exp/gmm/tri/decode_dev --out exp/gmm/tri/system

Copies the network file (or the GMM's final.mdl and feature settings), the tree's final.mdl, HCLG.fst,
words.txt and the word boundaries or alignment lexicon (phones/align_lexicon.int; --lexicon makes it from
the lang's lexicon.txt: word times for a lang without position-dependent phones), with --cmvn-from the
training features' global statistics (global_cmvn.json: streaming a per-utterance-CMVN network),
writes the LM weight and penalty chosen on dev, the prior scale and the log-mel settings (system.json,
fbank.json) and a model card (README.md: the WER table of the experiment's decode_<set> directories,
params, MACs/frame, date, git revision), checks that the pieces fit (python -m blasr.transcribe loads
it the same way) and renames the directory into place. Layout:
docs/inference.md. The work is :func:`blasr.inference.system.package_system`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from blasr.inference.system import package_system
from blasr.kaldi.decoding.decode import DecodeOptions
from blasr.kaldi.decoding.decode_dir import read_best_setting
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    defaults = DecodeOptions()
    p = cli.parser("blasr.package", __doc__)
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--nnet", metavar="FINAL_PT", help="the network file (EXP/final.pt)")
    model.add_argument("--gmm", metavar="DIR", help="a GMM model directory (final.mdl, gmm_features.json)")
    p.add_argument("--model", help="the tree's final.mdl (needed with --nnet; default with --gmm: DIR/final.mdl)")
    p.add_argument("--graph", required=True, help="the graph directory (HCLG.fst, words.txt, phones/)")
    p.add_argument("--fbank", help="fbank.json of the training features (needed with --gmm; default with --nnet: "
                                   "the settings stored in final.pt)")
    p.add_argument("--setting-from", metavar="DECODE_DIR",
                   help="take the LM weight and penalty a dev sweep chose there (default: --lm-weight, "
                        "--word-insertion-penalty)")
    p.add_argument("--lm-weight", type=float, default=10.0, help="LM weight (acoustic scale 1 / LM weight)")
    p.add_argument("--word-insertion-penalty", type=float, default=0.0, help="added to every word's cost")
    p.add_argument("--prior-scale", type=float, default=1.0, help="with --nnet: nnet-forward's --prior-scale")
    p.add_argument("--beam", type=float, default=defaults.beam, help="decoding beam")
    p.add_argument("--max-active", type=int, default=defaults.max_active, help="most active states a frame")
    p.add_argument("--name", help="the system's name (default: its experiment directory's name)")
    p.add_argument("--sets", nargs="+", default=["dev", "test"],
                   help="decode_<set> directories beside the model whose WERs go into the model card")
    p.add_argument("--lexicon", help="the lexicon.txt the graph's lang was made from: phones/align_lexicon.int for "
                                     "word times (default: the graph's phones/align_lexicon.int, if any)")
    p.add_argument("--cmvn-from", metavar="CUTS",
                   help="the training features' cut manifest: their global statistics (global_cmvn.json) let a "
                        "network normalised per utterance stream (python -m blasr.transcribe --online)")
    p.add_argument("--out", required=True, help="the system directory to write (replaced if it exists)")
    args = p.parse_args(argv)
    if args.nnet and not args.model:
        p.error("--nnet needs --model (the final.mdl of the tree the network was trained on)")
    if args.gmm and not args.fbank:
        p.error("--gmm needs --fbank (the fbank.json of the features the GMM was trained on)")
    cli.setup_logging()
    experiment = Path(args.nnet).parent if args.nnet else Path(args.gmm)
    lm_weight, penalty = args.lm_weight, args.word_insertion_penalty
    if args.setting_from:
        lm_weight, penalty = read_best_setting(args.setting_from)
    options = DecodeOptions(beam=args.beam, max_active=args.max_active)
    out = package_system(args.out, args.graph, network=args.nnet, gmm_dir=args.gmm, transition_model=args.model,
                         fbank=args.fbank, lm_weight=lm_weight, word_insertion_penalty=penalty,
                         prior_scale=args.prior_scale, options=options, name=args.name or experiment.name,
                         card_dir=experiment, card_sets=tuple(args.sets), lexicon=args.lexicon,
                         cmvn_from=args.cmvn_from)
    print(f"wrote {out} (LM weight {lm_weight:g}, penalty {penalty:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
