"""Kaldi's files in Python: final.mdl, trees, GMMs, symbol tables, FSTs, archives, alignment directories."""
