"""The Kaldi side in Python: scoring (more to come: lang, GMM alignment, graphs, decoding)."""
