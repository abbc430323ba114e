"""Weight loading: local files, a pre-seeded torch.hub cache (offline), and the error messages."""


import pytest
import torch
from torch import nn

from evaluation.pretrained import VGG_URLS, CheckpointError, hub_cache_path, load_weights, pretrained_vgg
from networks.backbones import vgg16


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def _tiny():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_random_weights_need_no_io(torch_home):
    model = pretrained_vgg("vgg19", "random")
    assert not model.training
    assert not (torch_home / "hub").exists()


def test_reload_saved_state_dict(tmp_path):
    src = vgg16()
    file = tmp_path / "vgg.pth"
    torch.save(src.state_dict(), file)
    model = pretrained_vgg("vgg16", str(file))
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)


def test_imagenet_from_preseeded_hub_cache_with_classifier_keys(torch_home):
    src = vgg16()
    state = dict(src.state_dict())
    state["classifier.6.weight"] = torch.zeros(2, 2)  # torchvision files carry the classifier: must be ignored
    cache = hub_cache_path(VGG_URLS["vgg16"])
    assert cache == torch_home / "hub" / "checkpoints" / "vgg16-397923af.pth"
    cache.parent.mkdir(parents=True)
    torch.save(state, cache)
    model = pretrained_vgg("vgg16", "imagenet")
    assert torch.equal(model.features[0].weight, src.features[0].weight)


def test_weights_dir_is_used_before_the_cache(tmp_path, torch_home):
    src = _tiny()
    url = "https://example.invalid/models/tiny-0123abcd.pth"
    torch.save(src.state_dict(), tmp_path / "tiny-0123abcd.pth")
    dst = load_weights(_tiny(), url=url, weights_dir=tmp_path)
    assert torch.equal(dst[0].weight, src[0].weight)


def test_failed_download_names_url_and_cache_path(tmp_path, torch_home):
    url = (tmp_path / "nowhere" / "tiny-0123abcd.pth").as_uri()  # file:// fails fast, no network
    with pytest.raises(CheckpointError) as err:
        load_weights(_tiny(), url=url)
    msg = str(err.value)
    assert url in msg
    assert str(torch_home / "hub" / "checkpoints" / "tiny-0123abcd.pth") in msg


def test_missing_local_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_weights(_tiny(), path=tmp_path / "absent.pth")


def test_key_mismatch_lists_missing_and_unexpected(tmp_path):
    state = _tiny().state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["0.bias"]
    file = tmp_path / "bad.pth"
    torch.save(state, file)
    with pytest.raises(CheckpointError) as err:
        load_weights(_tiny(), path=file)
    msg = str(err.value)
    assert str(file) in msg and "0.bias" in msg and "extra.weight" in msg
    # non-strict loading accepts it
    load_weights(_tiny(), path=file, strict=False)


def test_key_filter_and_missing_num_batches_tracked(tmp_path):
    state = {k: v for k, v in _tiny().state_dict().items() if not k.endswith("num_batches_tracked")}
    state["head.weight"] = torch.zeros(3)
    file = tmp_path / "w.pth"
    torch.save(state, file)
    load_weights(_tiny(), path=file, key_filter=lambda k: not k.startswith("head."))


def test_shape_mismatch(tmp_path):
    state = _tiny().state_dict()
    state["0.weight"] = torch.zeros(4, 3, 5, 5)
    file = tmp_path / "shape.pth"
    torch.save(state, file)
    with pytest.raises(CheckpointError, match=r"0\.weight.*\(4, 3, 5, 5\)"):
        load_weights(_tiny(), path=file)


def test_not_a_state_dict(tmp_path):
    file = tmp_path / "obj.pth"
    torch.save({"a": "text"}, file)
    with pytest.raises(CheckpointError, match="state dict"):
        load_weights(_tiny(), path=file)


def test_fid_inception_from_preseeded_cache_without_num_batches_tracked(torch_home):
    from evaluation.pretrained import INCEPTION_URLS, pretrained_fid_inception
    from networks.backbones import FIDInceptionV3

    src = FIDInceptionV3()
    state = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    cache = hub_cache_path(INCEPTION_URLS["pytorch-fid"])
    assert cache.name == "pt_inception-2015-12-05-6726825d.pth"
    cache.parent.mkdir(parents=True)
    torch.save(state, cache)
    model = pretrained_fid_inception("pytorch-fid")
    assert torch.equal(model.Mixed_7c.branch_pool.conv.weight, src.Mixed_7c.branch_pool.conv.weight)
    # a file with torchvision's AuxLogits keys is not the FID network: fail, naming the key
    state["AuxLogits.fc.weight"] = torch.zeros(1)
    torch.save(state, cache)
    with pytest.raises(CheckpointError, match="AuxLogits"):
        pretrained_fid_inception("pytorch-fid")
