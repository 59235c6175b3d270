"""The Kaldi side in Python, without a Kaldi build.

* ``scoring``: WER with kaldialign, Kaldi's compute-wer lines, sweeps, subsets;
* Kaldi import: ``io`` (binary/text primitives, alignment archives),
  ``model_io`` (final.mdl: topology, transition model, ali-to-pdf), ``gmm_io``,
  ``tree_io``, ``symbols``, ``fst_io`` (HCLG, const or vector), ``experiment``
  (an alignment directory + lang directory in one call).

* lang directories and graphs: ``lexicon``, ``lang``, ``grammar``, ``graph`` (HCLG);
* decoding: ``decode`` (lattice-faster on score matrices or GMMs), ``decode_dir``;
* GMM-HMM training: ``align`` (training graphs, Viterbi alignment, class counts),
  ``gmm_est`` (statistics, ML update, mixing up), ``tree_build`` (phonetic
  decision tree), ``gmm_train`` (mono → tri → alignments, Kaldi's recipes).
"""
