"""GMM-HMM training as Kaldi's recipes do it: alignment, estimation, the decision tree, mono -> tri."""
