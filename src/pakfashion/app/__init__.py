"""A local web app over the pipeline's outputs: browse the dataset, try the trained models, compare runs.

``python -m pakfashion.app --repo .`` (or ``make app``) serves it on 127.0.0.1. It reads only what the
stages wrote (``params.yaml``'s ``paths``): ``data/dataset``, ``data/interim/excluded.csv``,
``data/raw/<site>/crawl.json``, ``models/<run>``, ``reports/samples.png`` and ``dvc exp show``.
"""
