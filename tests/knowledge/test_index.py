"""The FAISS index: save/load, the atomic swap on disk, the automatic choice of index."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from knowledge import IndexParams, Row, VectorIndex
from knowledge.embeddings import normalise

EXACT = IndexParams()


def random_index(
    n: int, seed: int, prefix: str = "e", params: IndexParams = EXACT
) -> tuple[VectorIndex, np.ndarray]:
    vectors = normalise(np.random.default_rng(seed).standard_normal((n, 32)))
    rows = [Row(f"{prefix}-{i % 7}", f"{prefix} phrasing {i}") for i in range(n)]
    return VectorIndex.build(vectors, rows, params), vectors


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    index, vectors = random_index(200, seed=1)
    index.save(tmp_path / "idx", meta={"fingerprint": "abc"})
    loaded = VectorIndex.load(tmp_path / "idx")
    assert loaded.rows == index.rows
    assert loaded.meta["fingerprint"] == "abc"
    np.testing.assert_allclose(loaded.vectors(), vectors, atol=1e-6)
    scores, rows = loaded.search(vectors[:5], 3)
    assert rows[:, 0].tolist() == [0, 1, 2, 3, 4]
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)


def test_save_swaps_atomically_and_keeps_only_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    first, _ = random_index(20, seed=1, prefix="a")
    second, _ = random_index(30, seed=2, prefix="b")
    third, _ = random_index(40, seed=3, prefix="c")
    first_dir = first.save(path)
    second_dir = second.save(path)
    assert path.is_symlink() and path.resolve() == second_dir.resolve()
    assert first_dir.exists()  # a reader that resolved the old version can still finish
    third_dir = third.save(path)
    assert not first_dir.exists()
    assert {p.name for p in tmp_path.iterdir()} == {"idx", second_dir.name, third_dir.name}
    assert VectorIndex.load(path).rows == third.rows


def test_readers_never_see_a_torn_index_while_versions_are_published(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    versions = [random_index(50 + 10 * i, seed=i, prefix=f"v{i}")[0] for i in range(3)]
    versions[0].save(path)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                loaded = VectorIndex.load(path)
                prefixes = {row.entry_id.split("-")[0] for row in loaded.rows}
                assert len(prefixes) == 1
                assert len(loaded.rows) == 50 + 10 * int(prefixes.pop()[1:])
            except BaseException as exc:
                errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for i in range(30):
        versions[i % 3].save(path)
    stop.set()
    for reader in readers:
        reader.join()
    assert errors == []


def test_small_collections_are_exact_and_large_ones_approximate() -> None:
    small, _ = random_index(40, seed=4, params=IndexParams(exact_limit=50))
    assert not small.approximate and small.kind == "IndexFlatIP"
    large, vectors = random_index(1000, seed=5, params=IndexParams(exact_limit=50))
    assert large.approximate and large.kind == "IndexRefineFlat"
    np.testing.assert_allclose(large.vectors(), vectors, atol=1e-6)  # re-scoring is exact
    scores, rows = large.search(vectors[:20], 1)
    assert rows[:, 0].tolist() == list(range(20))
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)


def test_an_approximate_index_rescores_its_candidate_count_whatever_k_is(
    tmp_path: Path,
) -> None:
    """With fewer candidates than vectors the PQ codes choose which are re-scored: a vector
    still finds itself (its code scores far above unrelated vectors), and the count is kept
    with the saved index."""
    params = IndexParams(exact_limit=50, rescored=40)
    index, vectors = random_index(2000, seed=6, params=params)
    scores, rows = index.search(vectors[:50], 10)
    assert rows[:, 0].tolist() == list(range(50))
    assert (rows >= 0).all() and (np.diff(scores, axis=1) <= 1e-6).all()
    index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx")
    assert loaded.rescored == 40 and loaded.kind == "IndexRefineFlat"
    np.testing.assert_array_equal(loaded.search(vectors[:50], 10)[1], rows)


def test_product_quantisation_splits_any_dimension_into_equal_parts() -> None:
    for dimension in (30, 31, 384):
        vectors = normalise(np.random.default_rng(dimension).standard_normal((300, dimension)))
        rows = [Row(f"e-{i}", f"p {i}") for i in range(300)]
        index = VectorIndex.build(vectors, rows, IndexParams(exact_limit=10))
        assert index.search(vectors[:5], 1)[1][:, 0].tolist() == [0, 1, 2, 3, 4]
