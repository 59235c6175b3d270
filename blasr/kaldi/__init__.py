"""The Kaldi side in Python, without a Kaldi build.

* ``scoring``: WER with kaldialign, Kaldi's compute-wer lines, sweeps, subsets;
* Kaldi import: ``io`` (binary/text primitives, alignment archives),
  ``model_io`` (final.mdl: topology, transition model, ali-to-pdf), ``gmm_io``,
  ``tree_io``, ``symbols``, ``fst_io`` (HCLG, const or vector), ``experiment``
  (an alignment directory + lang directory in one call).

Still to come: lang directories, GMM training with a CD-state tree, graphs, decoding.
"""
