"""sqlml's benchmarks: ``python -m benchmarks.<name>`` from the repository root.

Each one measures sqlml against the alternative side by side in one run, with the same
thread count, and writes ``benchmarks/results/<name>.json``. See benchmarks/README.md.
"""
