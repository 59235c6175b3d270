"""``python -m blasr.mkgraph LANG_DIR MODEL_DIR GRAPH_DIR``: the decoding graph, as Kaldi's ``utils/mkgraph.sh``.

    python -m blasr.mkgraph data/lang_test exp/gmm/tri exp/gmm/tri/graph

Writes ``GRAPH_DIR/HCLG.fst`` with ``words.txt``, ``phones.txt``, ``phones/``
and ``num_pdfs`` beside it, from the lang directory's ``L_disambig.fst`` and
``G.fst`` and the model directory's ``tree`` and ``final.mdl``; a finished
graph with the same inputs is kept. The work is
:func:`blasr.kaldi.decoding.graph.make_graph`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from blasr.kaldi.decoding.graph import SELF_LOOP_SCALE, TRANSITION_SCALE, make_graph
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.mkgraph", __doc__)
    p.add_argument("lang_dir", help="lang directory with L_disambig.fst and G.fst")
    p.add_argument("model_dir", help="directory with final.mdl and tree")
    p.add_argument("graph_dir", help="output directory (HCLG.fst, words.txt, phones/, num_pdfs)")
    p.add_argument("--self-loop-scale", type=float, default=SELF_LOOP_SCALE, help="mkgraph.sh --self-loop-scale")
    p.add_argument("--transition-scale", type=float, default=TRANSITION_SCALE, help="mkgraph.sh --transition-scale")
    p.add_argument("--overwrite", action="store_true", help="rebuild even a graph complete with these inputs")
    args = p.parse_args(argv)
    cli.setup_logging()
    model_dir = Path(args.model_dir)
    graph = make_graph(args.lang_dir, model_dir / "tree", model_dir / "final.mdl", args.graph_dir,
                       args.transition_scale, args.self_loop_scale, overwrite=args.overwrite)
    print(f"{graph.graph_dir / 'HCLG.fst'}: {graph.num_states} states, {graph.num_arcs} arcs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
