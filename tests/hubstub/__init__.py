"""A local stand-in of the Hugging Face Hub HTTP API for integration tests (standard library + PyYAML).

The real huggingface_hub, datasets and transformers clients run against it unchanged with
``HF_ENDPOINT=<stub.url>`` and ``HF_HUB_DISABLE_XET=1`` (see the ``hub`` fixture in ``tests/conftest.py``).
"""

from .server import ORGS, USER, HubStub
from .store import HubError, Repo, Store

__all__ = ["ORGS", "USER", "HubError", "HubStub", "Repo", "Store"]
