"""Lang directories: the lexicon, prepare_lang.sh, and the grammar G.fst (format_lm.sh)."""
