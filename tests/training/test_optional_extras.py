import sys

import pytest

import lessdata.training
from lessdata.errors import MissingExtraError


def test_lightning_callback_without_lightning_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)  # makes `import lightning.pytorch` fail
    monkeypatch.delitem(sys.modules, "lessdata.training.lightning", raising=False)
    with pytest.raises(MissingExtraError, match=r"lessdata\[lightning\]"):
        lessdata.training.CoresetCallback  # noqa: B018


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        lessdata.training.NoSuchThing  # noqa: B018
