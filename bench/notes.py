"""The prose half of docs/benchmarks.md (the figures come from bench/run.py)."""

ANALYSIS = "(analysis pending)"
