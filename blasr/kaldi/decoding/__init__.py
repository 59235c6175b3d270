"""Decoding: HCLG graphs (mkgraph.sh) and the lattice-faster decoder on score matrices or GMMs."""
