"""Benchmark datasets: the registry of known benchmarks and the loaders.

`load_dataset("nl4opt")` reads the staged `canonical.jsonl` (or a fetched
upstream copy); `load_dataset("path/to/file.jsonl")` reads any JSONL/JSON/CSV
file with question and answer fields. See docs/evaluation.md.
"""

from nl2opt.datasets.loader import (
    DatasetNotFoundError,
    candidate_data_dirs,
    fetch_dataset,
    load_dataset,
    parse_answer,
    sha256_file,
    user_cache_dir,
)
from nl2opt.datasets.registry import (
    DATASETS,
    DatasetEntry,
    UpstreamFile,
    dataset_names,
    get_entry,
)
from nl2opt.datasets.types import AnswerStatus, Dataset, DatasetItem

__all__ = [
    "DATASETS",
    "AnswerStatus",
    "Dataset",
    "DatasetEntry",
    "DatasetItem",
    "DatasetNotFoundError",
    "UpstreamFile",
    "candidate_data_dirs",
    "dataset_names",
    "fetch_dataset",
    "get_entry",
    "load_dataset",
    "parse_answer",
    "sha256_file",
    "user_cache_dir",
]
