"""The hand-written layer over the generated stubs in patchbay.v1."""
from __future__ import annotations

from dataclasses import dataclass

import grpc

from patchbay.v1 import patchbay_pb2, patchbay_pb2_grpc


class PatchbayError(Exception):
    """A request the server refused or failed; the message is the server's own."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Tokens:
    """Token ids of a text with the token strings the tokenizer spells them as."""

    ids: list[int]
    tokens: list[str]


class Client:
    """A connection to a Patchbay server, e.g. ``Client("localhost:50051")``. Use it as a context manager."""

    def __init__(self, target: str, *, timeout: float | None = 60.0):
        self._channel = grpc.insecure_channel(target)
        self._stub = patchbay_pb2_grpc.PatchbayStub(self._channel)
        self._timeout = timeout

    def models(self) -> list[patchbay_pb2.ModelInfo]:
        """The models the server has loaded, with their shapes and hook sites."""
        return list(self._call(self._stub.ListModels, patchbay_pb2.ListModelsRequest()).models)

    def tokenize(self, model: str, text: str) -> Tokens:
        """How ``model`` tokenizes ``text``: check here that a clean and a noise prompt align."""
        response = self._call(self._stub.Tokenize, patchbay_pb2.TokenizeRequest(model=model, text=text))
        return Tokens(ids=list(response.ids), tokens=list(response.tokens))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=self._timeout)
        except grpc.RpcError as e:  # every unary failure is also a grpc.Call with code() and details()
            raise PatchbayError(e.code(), e.details()) from None
