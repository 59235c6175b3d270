import pytest
from torch import nn

from blasr.core import registry
from blasr.core.registry import create_model, list_models, register_model


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", {})
    return registry._REGISTRY


def test_register_create_and_list(scratch_registry):
    @register_model("speech")
    def tiny_net(width: int = 3, depth: int = 1):
        return nn.Linear(width, depth)

    @register_model("image", name="tiny_image")
    def _builder():
        return nn.Identity()

    assert list_models() == ["tiny_net", "tiny_image"]
    assert list_models("tiny_*", domain="image") == ["tiny_image"]
    assert list_models("nothing*") == []
    model = create_model("tiny_net", width=5, depth=None)  # None overrides are dropped
    assert (model.in_features, model.out_features) == (5, 1)


def test_duplicate_names_are_refused(scratch_registry):
    register_model("speech", name="dup")(nn.Identity)
    with pytest.raises(ValueError, match="already registered"):
        register_model("speech", name="dup")(nn.Identity)


def test_unknown_domain_and_name(scratch_registry):
    register_model("speech", name="bl_resnet22_a2b3")(nn.Identity)
    with pytest.raises(ValueError, match="unknown domain"):
        register_model("video")
    with pytest.raises(ValueError, match="did you mean bl_resnet22_a2b3"):
        create_model("bl_resnet22_a2b4")
