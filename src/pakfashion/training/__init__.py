"""Pieces of the train stage (:mod:`pakfashion.train`): models, cached data, loss, checkpoints."""
