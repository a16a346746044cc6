"""A FAISS index over phrasing vectors, with each row mapped back to (entry id, phrasing).

Vectors are unit length, so inner product is cosine similarity. Below `exact_limit` vectors
the index is exact (`IndexFlatIP`). Above it, a compressed scan re-scored exactly
(`IndexRefineFlat` over `IndexPQFastScan`): every vector has a 4-bit product-quantisation code
per 4 dimensions, a question's scores against all codes come from SIMD table lookups, and the
best `rescored` candidates are scored again against the stored float vectors. Unlike a graph
(HNSW) or a partition (IVF), its recall does not depend on the vectors forming neighbourhoods,
and it builds in seconds at a million vectors (`make bench-knowledge`, scale run), which keeps
a reindex on publish short.

On disk an index is a directory reached through a symlink: `save` writes a fresh sibling
directory and swaps the symlink with `os.replace`, so a reader sees the old index or the new
one, never half of each.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .embeddings import Vectors

EXACT_LIMIT = 100_000
PQ_DIMENSIONS_PER_CODE = 4
PQ_TRAINING_SAMPLE = 65_536
# The scale run's choice: recall@10 >= 0.95 on 1M random vectors (no structure to exploit).
RESCORED_CANDIDATES = 6_000

_VECTORS_FILE = "vectors.faiss"
_ROWS_FILE = "rows.json"
_META_FILE = "meta.json"


@dataclass(frozen=True, slots=True)
class Row:
    entry_id: str
    phrasing: str


@dataclass(frozen=True, slots=True)
class IndexParams:
    exact_limit: int = EXACT_LIMIT
    rescored: int = RESCORED_CANDIDATES


DEFAULT_PARAMS = IndexParams()


def build_faiss_index(vectors: Vectors, params: IndexParams = IndexParams()) -> faiss.Index:
    """Exact inner product for small collections, the re-scored PQ scan above
    `params.exact_limit`."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = vectors.shape[1]
    index: faiss.Index
    if len(vectors) <= params.exact_limit:
        index = faiss.IndexFlatIP(dimension)
    else:
        coarse = faiss.IndexPQFastScan(
            dimension, _subquantizers(dimension), 4, faiss.METRIC_INNER_PRODUCT
        )
        sample = np.random.default_rng(0).choice(
            len(vectors), size=min(len(vectors), PQ_TRAINING_SAMPLE), replace=False
        )
        coarse.train(vectors[np.sort(sample)])
        index = faiss.IndexRefineFlat(coarse)
    index.add(vectors)
    return index


def _subquantizers(dimension: int) -> int:
    """The most sub-quantisers of at least PQ_DIMENSIONS_PER_CODE dimensions that divide
    `dimension` (PQ needs equal parts): 96 for 384."""
    for count in range(max(1, dimension // PQ_DIMENSIONS_PER_CODE), 0, -1):
        if dimension % count == 0:
            return count
    return 1


def search_index(
    index: faiss.Index, queries: Vectors, k: int, rescored: int = RESCORED_CANDIDATES
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and row numbers, best first. A re-scored index scores `rescored` candidates
    exactly whatever `k` is (at least k)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if isinstance(index, faiss.IndexRefine):
        factor = max(1.0, rescored / k)
        return index.search(queries, k, params=faiss.IndexRefineSearchParameters(k_factor=factor))
    return index.search(queries, k)


def is_approximate(index: faiss.Index) -> bool:
    return not isinstance(index, faiss.IndexFlat)


class VectorIndex:
    """Immutable once built: searches are safe from any number of threads."""

    def __init__(
        self, index: faiss.Index, rows: Sequence[Row], meta: dict[str, Any] | None = None
    ) -> None:
        if index.ntotal != len(rows):
            raise ValueError(f"index has {index.ntotal} vectors but {len(rows)} rows")
        self._index = index
        self.rows: tuple[Row, ...] = tuple(rows)
        self.meta: dict[str, Any] = dict(meta or {})
        self.meta.setdefault("rescored", RESCORED_CANDIDATES)

    @classmethod
    def build(
        cls, vectors: Vectors, rows: Sequence[Row], params: IndexParams = IndexParams()
    ) -> VectorIndex:
        return cls(build_faiss_index(vectors, params), rows, {"rescored": params.rescored})

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    @property
    def approximate(self) -> bool:
        return is_approximate(self._index)

    @property
    def rescored(self) -> int:
        """Candidates an approximate index re-scores per query; saved with the index."""
        return int(self.meta["rescored"])

    @property
    def kind(self) -> str:
        return type(self._index).__name__

    def vectors(self) -> Vectors:
        """The stored vectors (both index kinds keep them uncompressed)."""
        if not self.rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._index.reconstruct_n(0, len(self.rows)), dtype=np.float32)

    def memory_bytes(self) -> int:
        """Bytes of the serialised FAISS index (vectors, plus the PQ codes when approximate)."""
        return int(faiss.serialize_index(self._index).nbytes)

    def search(self, queries: Vectors, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and row numbers, best first; row -1 marks an empty slot."""
        k = max(1, min(k, len(self.rows)))
        if not self.rows:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        return search_index(self._index, queries, k, self.rescored)

    def save(self, path: Path, meta: dict[str, Any] | None = None) -> Path:
        """Publish this index at `path` atomically; returns the directory it was written to."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        target = path.parent / f"{path.name}.{uuid.uuid4().hex[:12]}"
        staging = target.with_name(f".{target.name}.tmp")
        staging.mkdir()
        try:
            faiss.write_index(self._index, str(staging / _VECTORS_FILE))
            rows = [[r.entry_id, r.phrasing] for r in self.rows]
            (staging / _ROWS_FILE).write_text(json.dumps(rows), encoding="utf-8")
            saved_meta = {**self.meta, **(meta or {}), "kind": self.kind}
            (staging / _META_FILE).write_text(json.dumps(saved_meta), encoding="utf-8")
            for file in staging.iterdir():
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        previous = path.resolve() if path.is_symlink() else None
        link = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.link"
        os.symlink(target.name, link)
        os.replace(link, path)
        _remove_old_versions(path, keep={target, previous})
        return target

    @classmethod
    def load(cls, path: Path, attempts: int = 5) -> VectorIndex:
        """Reads one version whole. The symlink is resolved once per attempt; if a fast
        succession of publishes removed that version mid-read, the newer one is read."""
        for attempt in range(attempts):
            directory = Path(path).resolve()
            try:
                index = faiss.read_index(str(directory / _VECTORS_FILE))
                rows = json.loads((directory / _ROWS_FILE).read_text(encoding="utf-8"))
                meta = json.loads((directory / _META_FILE).read_text(encoding="utf-8"))
            except (OSError, RuntimeError):
                if attempt == attempts - 1 or Path(path).resolve() == directory:
                    raise
                continue
            return cls(index, [Row(entry_id, phrasing) for entry_id, phrasing in rows], meta)
        raise AssertionError("unreachable")


def _remove_old_versions(path: Path, keep: set[Path | None]) -> None:
    """Versions older than the previous one; the previous stays for readers mid-load."""
    kept = {p.resolve() for p in keep if p is not None}
    for candidate in path.parent.glob(f"{path.name}.*"):
        if candidate.is_dir() and not candidate.is_symlink() and candidate.resolve() not in kept:
            shutil.rmtree(candidate, ignore_errors=True)
