"""KServe v2 encoding and decoding against an in-process fake Triton (a real HTTP server)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import tritonclient.http as triton_http

from drillkit.model.client import RecommenderClient, decode_answer, encode_recommend, encode_search
from tests.fakes.triton import FakeTriton, fake_triton


@pytest.fixture(scope="module")
def triton() -> Iterator[str]:
    with fake_triton() as url:
        yield url


def test_recommend_round_trip_carries_inputs_and_serving_node(triton: str) -> None:
    reply = RecommenderClient(triton).recommend(user_id=40, k=3)
    assert reply.error is None and reply.status == 200
    assert reply.answer is not None and reply.answer.item_ids == (40, 41, 42)
    assert reply.answer.scores == pytest.approx((1.0, 0.5, 0.0))
    assert (reply.node, reply.region) == ("primary-1", "primary")
    assert FakeTriton.seen[-1] == {"path": "/v2/models/recommend/infer", "user_id": 40, "k": 3}


def test_a_base_path_is_kept_for_nodes_behind_a_proxy(triton: str) -> None:
    base = f"{triton}/api/v1/namespaces/ns/pods/env-primary-0:8000/proxy/"
    RecommenderClient(base).recommend(user_id=7, k=2)
    assert FakeTriton.seen[-1]["path"] == "/api/v1/namespaces/ns/pods/env-primary-0:8000/proxy/v2/models/recommend/infer"


def test_search_sends_the_query_text(triton: str) -> None:
    reply = RecommenderClient(triton).search("red shoes", user_id=2, k=2)
    assert reply.answer is not None and reply.answer.item_ids == (2, 3)
    assert FakeTriton.seen[-1] == {"path": "/v2/models/search/infer", "query": "red shoes", "user_id": 2, "k": 2}


def test_an_error_status_carries_tritons_message(triton: str) -> None:
    reply = RecommenderClient(triton).recommend(user_id=1, k=500)
    assert reply.answer is None and reply.status == 400
    assert reply.error == "HTTP 400: k too large"


def test_a_dead_server_is_a_reply_with_an_error_not_an_exception() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reply = RecommenderClient(f"http://127.0.0.1:{port}").recommend(user_id=1, k=1)
    assert reply.status == 0 and reply.error is not None and "Connection" in reply.error


def test_encoding_matches_tritonclient_and_decoding_reads_json_outputs_too() -> None:
    request = encode_search("q", user_id=1, k=5)
    assert request.path == "/v2/models/search/infer"
    assert int(request.headers["Inference-Header-Content-Length"]) < len(request.body)
    body = json.dumps({"outputs": [
        {"name": "item_ids", "datatype": "INT64", "shape": [1, 2], "data": [7, 8]},
        {"name": "scores", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 0.25]},
    ]}).encode()  # fmt: skip
    answer = decode_answer(body, {})
    assert answer.item_ids == (7, 8) and answer.scores == (0.5, 0.25)
    assert isinstance(triton_http.InferResult.from_response_body(body), triton_http.InferResult)
    assert encode_recommend(3, 4).path == "/v2/models/recommend/infer"
