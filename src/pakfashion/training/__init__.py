"""Pieces of the train stage (:mod:`pakfashion.training.loop`): models, cached data, loss, checkpoints."""
