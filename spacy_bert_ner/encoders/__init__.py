"""Encoder folders for training: ``prepare`` (hub name, local folder, offline package or tiny)
and ``tiny`` (random 2-layer encoders of each supported tokenizer family, built offline)."""
