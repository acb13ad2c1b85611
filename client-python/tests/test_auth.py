"""A server started with --auth-tokens answers only calls that carry a listed bearer token."""
import asyncio

import grpc
import pytest
from conftest import TOKEN

import patchbay


def test_calls_without_the_token_are_unauthenticated(token_server_address):
    with patchbay.Client(token_server_address) as client:
        with pytest.raises(patchbay.PatchbayError) as refused:
            client.models()
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    with patchbay.Client(token_server_address, token=TOKEN + "x") as client:
        with pytest.raises(patchbay.PatchbayError) as wrong:
            client.models()
    assert wrong.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_the_token_opens_every_call(token_server_address):
    with patchbay.Client(token_server_address, token=TOKEN) as client:
        model = client.models()[0].name
        assert client.tokenize(model, "hello").ids
        pair = patchbay.Pair([5, 6, 7, 8], [5, 6, 9, 8], answer=[10], wrong=[11])
        assert client.attribute(model, pair, method="atp", nodes="heads").summary is not None
        metrics = client.metrics()
        assert metrics.calls_by_status["OK"] >= 3
        assert metrics.calls_by_status["UNAUTHENTICATED"] >= 1  # refused calls are counted too


def test_the_async_client_sends_the_token(token_server_address):
    async def models():
        async with patchbay.AsyncClient(token_server_address, token=TOKEN) as client:
            return await client.models()

    assert asyncio.run(models())


def test_an_empty_token_is_refused_before_connecting():
    with pytest.raises(ValueError, match="token"):
        patchbay.Client("localhost:1", token=" ")
