"""The Kaldi side in Python, without a Kaldi build, in five rooms.

Imports point one way (``tests/test_imports.py`` checks it)::

    formats  <-  lang  <-  gmm
                    ^
    scoring  <-  decoding

* :mod:`~blasr.kaldi.formats`: Kaldi's files: binary/text primitives and
  alignment archives (``io``), ``final.mdl`` (``model``: topology, transition
  model, ali-to-pdf), GMMs (``gmm``), trees (``tree``), symbol tables
  (``symbols``), FSTs const or vector (``fst``), matrix archives and the one
  atomic archive writer (``ark``), and a whole alignment directory
  (``experiment``).
* :mod:`~blasr.kaldi.lang`: the lexicon (``lexicon``), a lang directory read
  back (``lang_dir``) or made (``prepare``, Kaldi's ``prepare_lang.sh``), its
  grammar ``G.fst`` (``grammar``, ``format_lm``: Kaldi's ``format_lm.sh``).
* :mod:`~blasr.kaldi.gmm`: GMM-HMM training: training graphs and Viterbi
  alignment (``align``), statistics and ML updates (``estimate``), the phonetic
  decision tree (``tree``), mono -> tri -> alignments (``train``) and the
  recipe over cuts (``recipe``).
* :mod:`~blasr.kaldi.decoding`: HCLG (``graph``, Kaldi's ``mkgraph.sh``), the
  lattice decoder (word lattices, determinized and rescored by LM-weight sweeps) on
  score matrices, the GMM baseline
  (``decode``), a decode directory (``decode_dir``).
* :mod:`~blasr.kaldi.scoring`: WER (``wer``), Hub5'00 scoring with GLM and STM
  (``hub5``), results tables (``results``).
"""

# kaldi-hmm-gmm must be loaded before kaldifst and kaldilm, and kaldi-decoder before kaldilm: the other orders
# deadlock at import. Every module of blasr.kaldi imports this package first, so each may import them at its top.
import kaldi_hmm_gmm  # noqa: E402, F401, I001
import kaldi_decoder  # noqa: E402, F401, I001
