"""Python client for Patchbay, a gRPC backend that localizes language-model behaviour to components."""
from patchbay.client import Client, PatchbayError, Tokens

__all__ = ["Client", "PatchbayError", "Tokens"]
__version__ = "0.1.0"
