"""Code that runs inside the database: training, ONNX conversion, prediction, catalog.

It imports numpy, pyarrow, onnxruntime, scikit-learn, lightgbm and ``sqlml.errors`` only,
never sqlglot or a database driver, so that PostgreSQL's PL/Python can load it.
Installed as ``sqlml._udfs``; in a source checkout it is the top-level ``udfs``.
"""
