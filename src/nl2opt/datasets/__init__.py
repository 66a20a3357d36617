"""Benchmark dataset loaders (OptiBench, NL4OPT, MAMO, ...). Built in the evaluation issue."""
