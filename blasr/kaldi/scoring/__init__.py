"""Scoring: WER (compute-wer), Hub5'00 scoring, results tables."""
