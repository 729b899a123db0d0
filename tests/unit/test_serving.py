"""The serving path: batch infer functions, device health, and the two scoring paths of the recommender."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from drillkit.model.catalog import ModelParams, make_catalog
from drillkit.model.recommender import Recommender, build_weights, candidates, tokens
from drillkit.model.serving import (
    OUTPUTS,
    DeviceHealth,
    lanes,
    recommend_fn,
    search_fn,
    split,
)

SMALL = ModelParams(items=3_000, dim=64, users=400, categories=12, vocab_size=400, hash_buckets=2_048, seed=9)


@pytest.fixture(scope="module")
def catalog_and_model() -> tuple[object, Recommender]:
    catalog = make_catalog(SMALL)
    return catalog, Recommender(build_weights(catalog, SMALL))


def _recommend(user: int, k: int) -> dict[str, np.ndarray]:
    return {"user_id": np.array([[user]], np.int64), "k": np.array([[k]], np.int32)}


def _search(query: str, user: int, k: int) -> dict[str, np.ndarray]:
    return {"query": np.array([[query.encode()]], dtype=np.object_), **_recommend(user, k)}


def test_a_batch_with_different_k_answers_each_request_as_if_it_came_alone(catalog_and_model: tuple[object, Recommender]) -> None:
    _, model = catalog_and_model
    requests = [_recommend(5, 3), _recommend(17, 10), _recommend(399, 1)]
    answers = recommend_fn(model, DeviceHealth())(requests)
    for request, answer in zip(requests, answers, strict=True):
        ids, scores = model.recommend(torch.from_numpy(request["user_id"].reshape(-1)), int(request["k"][0, 0]))
        assert answer["item_ids"].tolist() == ids.tolist()
        assert np.allclose(answer["scores"], scores.numpy(), rtol=0, atol=1e-6)  # a GEMM of 3 rows rounds unlike one of 1


def test_search_batches_queries_and_an_empty_query_falls_back_to_the_user(catalog_and_model: tuple[object, Recommender]) -> None:
    catalog, model = catalog_and_model
    words = " ".join(str(catalog.item_title[7]).split()[1:3])  # type: ignore[attr-defined]
    requests = [_search(words, 3, 5), _search("", 4, 5), _search("!!", 8, 7)]
    answers = search_fn(model, DeviceHealth())(requests)
    for (query, user, k), answer in zip([(words, 3, 5), ("", 4, 5), ("!!", 8, 7)], answers, strict=True):
        ids, scores = model.search([query], torch.tensor([user]), k)
        assert answer["item_ids"].tolist() == ids.tolist()
        assert np.allclose(answer["scores"], scores.numpy(), rtol=0, atol=1e-6)
    empty, _ = model.search([""], torch.tensor([4]), 5)
    alone, _ = model.recommend(torch.tensor([4]), 5)
    assert set(empty[0].tolist()) & set(alone[0].tolist())  # the user's own taste, slightly tilted


def test_split_returns_the_declared_dtypes_and_shapes_which_strict_mode_no_longer_checks() -> None:
    ids = np.arange(12, dtype=np.int64).reshape(3, 4)
    scores = np.linspace(1, 0, 12, dtype=np.float32).reshape(3, 4)
    requests = [{"user_id": np.zeros((2, 1)), "k": np.array([[4], [4]])}, {"user_id": np.zeros((1, 1)), "k": np.array([[2]])}]
    first, second = split(requests, ids, scores)
    declared = {t.name: t for t in OUTPUTS}
    for answer in (first, second):
        for name, value in answer.items():
            assert value.dtype == declared[name].dtype and value.ndim == 1 + len(declared[name].shape)
    assert first["item_ids"].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]] and second["item_ids"].tolist() == [[8, 9]]


def test_a_device_fault_fails_every_batch_after_it(catalog_and_model: tuple[object, Recommender]) -> None:
    _, model = catalog_and_model
    health = DeviceHealth(xid=48)
    with pytest.raises(RuntimeError, match="Xid 48: double-bit ECC error"):
        recommend_fn(model, health)([_recommend(1, 5)])


def test_a_device_fault_during_a_batch_fails_that_batch_too(catalog_and_model: tuple[object, Recommender]) -> None:
    _, model = catalog_and_model
    health = DeviceHealth()

    @contextmanager
    def fault_while_running() -> Iterator[None]:  # the lane a batch runs in: the Xid arrives mid-batch
        yield
        health.xid = 79

    with pytest.raises(RuntimeError, match="Xid 79: GPU has fallen off the bus"):
        search_fn(model, health, fault_while_running)([_search("red", 1, 5)])


def test_memory_pressure_lasts_a_hold_after_the_last_signal() -> None:
    now = [100.0]
    health = DeviceHealth(clock=lambda: now[0])
    assert not health.under_pressure()
    health.pressure(hold_s=3.0)
    now[0] = 102.9
    assert health.under_pressure()
    now[0] = 103.1
    assert not health.under_pressure()
    health.after_batch(torch.device("cpu"))  # a CPU node has no device cache to hand back


def test_one_lane_per_instance_and_none_refused() -> None:
    assert len(list(lanes(torch.device("cpu"), 3))) == 3
    with pytest.raises(ValueError, match="instances must be >= 1"):
        list(lanes(torch.device("cpu"), 0))


def test_batched_query_vectors_equal_the_per_query_means_bit_for_bit(catalog_and_model: tuple[object, Recommender]) -> None:
    catalog, model = catalog_and_model
    rng = np.random.default_rng(4)
    titles = [str(t).split() for t in catalog.item_title[rng.integers(0, SMALL.items, 300)]]  # type: ignore[attr-defined]
    queries = [" ".join(t[1 : 1 + i % 6]) for i, t in enumerate(titles)] + ["", "?!", "A b C d E f G h"]
    users = model.users[torch.from_numpy(rng.integers(0, SMALL.users, len(queries)))]
    with torch.inference_mode():
        batched = model._queries(queries, users)
    for row, text in enumerate(queries):  # the reference: one query at a time, as the golden answers were recorded
        ids = tokens(text, model.table.shape[0])
        if ids:
            mean = model.table[torch.tensor(ids)].mean(dim=0)
            assert torch.equal(batched[row], mean / mean.norm()), text
        else:
            assert torch.equal(batched[row], users[row])


def test_the_fp16_scan_with_float32_rescoring_gives_the_float32_answers(catalog_and_model: tuple[object, Recommender]) -> None:
    catalog, exact = catalog_and_model
    fast = Recommender(build_weights(catalog, SMALL), "cpu", scan="fp16")  # type: ignore[arg-type]
    users = torch.arange(0, 400, 7)
    for k in (1, 20, 100):
        want_ids, want_scores = exact.recommend(users, k)
        got_ids, got_scores = fast.recommend(users, k)
        assert torch.equal(got_ids, want_ids)
        assert torch.allclose(got_scores, want_scores, rtol=0, atol=1e-5)
    got_ids, _ = fast.search(["kalo mine"] * 3, torch.tensor([1, 2, 3]), 20)
    assert torch.equal(got_ids, exact.search(["kalo mine"] * 3, torch.tensor([1, 2, 3]), 20)[0])


def test_host_answers_are_numpy_and_match_the_tensor_answers(catalog_and_model: tuple[object, Recommender]) -> None:
    _, model = catalog_and_model
    ids, scores = model.recommend_host(np.array([1, 2], np.int64), 4)
    assert ids.dtype == np.int64 and scores.dtype == np.float32 and ids.shape == (2, 4)
    assert ids.tolist() == model.recommend(torch.tensor([1, 2]), 4)[0].tolist()
    assert candidates(20, 1_000_000) == 104 and candidates(20, 50) == 50
    with pytest.raises(ValueError, match="scan must be"):
        Recommender(build_weights(make_catalog(SMALL), SMALL), scan="int8")
