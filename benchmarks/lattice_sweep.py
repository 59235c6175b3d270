"""An LM-weight x insertion-penalty sweep by lattice rescoring (decode once) against searching once per setting.

    bash recipes/digits/run.sh          # once: a graph, a model and exported scores to decode
    python benchmarks/lattice_sweep.py --graph recipes/digits/exp/gmm/tri/graph \\
        --model recipes/digits/exp/gmm/tri/final.mdl \\
        --loglikes scp:recipes/digits/exp/bl_resnet22_a2b3/loglikes_dev/loglikes.scp \\
        --text recipes/digits/data/corpus/dev/text --runs 3 --json /tmp/sweep.json

Both ways run :func:`blasr.kaldi.decoding.decode.sweep` on the same scores in
this process (``--nj`` decoding processes; default one) over Kaldi's default
grid, LM weights 7..17 x penalties 0, 0.5, 1 (33 settings): ``rescore=True``
decodes each utterance once into a lattice and finds every setting's best path
in it; ``rescore=False`` searches once per setting. Reported: the median wall
time of ``--runs`` runs of each (matrices read from disk each time, graph
loading included), the setting each chooses and its WER, and in how many
settings (and at the chosen one) the hypotheses of every utterance agree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import blasr.kaldi  # noqa: F401  (kaldi-hmm-gmm before kaldifst)
from blasr.kaldi.decoding.decode import sweep
from blasr.kaldi.scoring.wer import read_text
from blasr.utils.machine import cpu_model, load_average


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--graph", required=True, help="graph directory (HCLG.fst, words.txt)")
    p.add_argument("--model", required=True, help="final.mdl")
    p.add_argument("--loglikes", required=True, help="rspecifier of the (frames, pdfs) matrices")
    p.add_argument("--text", required=True, help="reference transcripts")
    p.add_argument("--runs", type=int, default=3, help="runs of each way (the median is reported)")
    p.add_argument("--nj", type=int, default=1, help="decoding processes")
    p.add_argument("--beam", type=float, default=13.0, help="decoding beam")
    p.add_argument("--lattice-beam", type=float, default=8.0, help="lattice beam")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    refs = read_text(args.text)
    load_before = load_average()
    rows, sweeps = {}, {}
    for rescore in (True, False):
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            result = sweep(args.loglikes, refs, args.graph, args.model, num_jobs=args.nj, rescore=rescore,
                           beam=args.beam, lattice_beam=args.lattice_beam)
            times.append(time.perf_counter() - start)
        name = "lattices, rescored" if rescore else "search per setting"
        sweeps[name] = result
        decoding = result.decodings[result.best]
        rows[name] = {"seconds": statistics.median(times), "all_seconds": times, "best": list(result.best),
                      "wer": result.best_counts.kaldi_line(), "frames": decoding.num_frames,
                      "utterances": len(decoding.hypotheses)}
    lattices, searched = sweeps["lattices, rescored"], sweeps["search per setting"]
    same = [s for s in lattices.results if lattices.decodings[s].hyps == searched.decodings[s].hyps]
    chosen = lattices.decodings[lattices.best].hyps
    differing = [u for u, words in chosen.items() if searched.decodings[lattices.best].hyps.get(u) != words]
    report = {"machine": cpu_model(), "load_before": load_before, "load_after": load_average(),
              "graph": args.graph, "loglikes": args.loglikes, "runs": args.runs, "nj": args.nj,
              "settings": len(lattices.results), "rows": rows, "settings_with_equal_hypotheses": len(same),
              "utterances_differing_at_chosen_setting": differing}
    print(f"machine: {report['machine']}; load before {load_before}, after {report['load_after']}")
    print(f"{rows['lattices, rescored']['utterances']} utterances, {rows['lattices, rescored']['frames']} frames, "
          f"{len(lattices.results)} settings, {args.nj} process(es), median of {args.runs}")
    print("| sweep | seconds | chosen (LMWT, WIP) | WER |")
    print("|---|---:|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['seconds']:.2f} | {tuple(row['best'])} | {row['wer']} |")
    print(f"speed-up {rows['search per setting']['seconds'] / rows['lattices, rescored']['seconds']:.1f}x; "
          f"hypotheses equal in {len(same)}/{len(lattices.results)} settings; at the lattices' chosen setting "
          f"{len(differing)} utterance(s) differ")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
