"""Datasets: fetching with checksums and mirrors, and readers that return numpy arrays."""

from bnntool.data.catalog import DATASETS, DatasetInfo, dataset_names, get_dataset
from bnntool.data.fetch import (
    DatasetStatus,
    FetchResult,
    check_fetched,
    ensure_fetched,
    fetch,
    status,
)
from bnntool.data.imageset import ImageSet
from bnntool.data.load import load_dataset

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetStatus",
    "FetchResult",
    "ImageSet",
    "check_fetched",
    "dataset_names",
    "ensure_fetched",
    "fetch",
    "get_dataset",
    "load_dataset",
    "status",
]
