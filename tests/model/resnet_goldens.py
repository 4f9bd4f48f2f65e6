"""Golden features for satunet's ResNet encoders, made by torchvision itself.

For resnet18, resnet34 and resnet50 (random weights, batch-norm statistics and affine
parameters randomised too, so that every tensor matters) this writes OUT/ARCH.pt, the state
dict as satunet reads it (a plain dict in torch.save's zip format), and OUT/ARCH-BANDS.pt: an
input of 3 or 4 bands and the five features segmentation_models.pytorch's encoder takes from
it (strides 2 to 32), and for resnet18 the files satunet must refuse: the OrderedDict
torchvision's own files hold, the pre-1.6 format, a tensor. For 4 bands the first layer is derived from the RGB weights by
segmentation_models.pytorch's rule (patch_first_conv), written out here as that library does.

    python3 tests/model/resnet_goldens.py OUT
"""
import os
import sys

import torch
import torchvision


def randomise_batch_norms(model):
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)


def first_layer(weight, bands):
    """segmentation_models.pytorch's patch_first_conv for pretrained weights."""
    if bands == 1:
        return weight.sum(1, keepdim=True)
    patched = torch.empty(weight.shape[0], bands, *weight.shape[2:])
    for band in range(bands):
        patched[:, band] = weight[:, band % 3]
    return patched * (3 / bands)


def features(model, x, conv1=None):
    if conv1 is None:
        conv1 = model.conv1.weight
    if x.shape[1] != conv1.shape[1]:
        conv1 = first_layer(conv1, x.shape[1])
    stem = model.relu(model.bn1(torch.nn.functional.conv2d(x, conv1, stride=2, padding=3)))
    out = [stem]
    y = model.maxpool(stem)
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        y = layer(y)
        out.append(y)
    return out


# TorchGeo's names of SSL4EO-S12's 13 Sentinel-2 L1C bands (its ResNet50_Weights meta "bands").
SSL4EO_BANDS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]


def satellite_weights(out):
    """A ResNet-50 state dict in the layout of TorchGeo's SSL4EO-S12 weights (a timm resnet50
    with 13 input bands, no fc), random, with and without the names of its bands; and the
    features of a B04,B03,B02,B08 input through the first layer's channels of those bands."""
    model = torchvision.models.resnet50()
    model.conv1 = torch.nn.Conv2d(13, 64, kernel_size=7, stride=2, padding=3, bias=False)
    randomise_batch_norms(model)
    model.eval()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    torch.save(dict(state, bands=SSL4EO_BANDS), os.path.join(out, "ssl4eo.pt"))
    # Files refused for their first layer need no more than it (and one more tensor: LibTorch
    # does not read the pickle of a one-entry dict).
    conv1 = {"conv1.weight": state["conv1.weight"], "bn1.weight": state["bn1.weight"]}
    torch.save(conv1, os.path.join(out, "ssl4eo-unnamed.pt"))
    torch.save(dict(conv1, bands=SSL4EO_BANDS[:12]), os.path.join(out, "ssl4eo-12-names.pt"))
    torch.save(dict(conv1, bands="B1,B2"), os.path.join(out, "ssl4eo-bands-text.pt"))
    chosen = [SSL4EO_BANDS.index(b) for b in ("B4", "B3", "B2", "B8")]
    x = torch.randn(2, 4, 64, 64)
    with torch.no_grad():
        golden = {"input": x}
        for i, feature in enumerate(features(model, x, model.conv1.weight[:, chosen])):
            golden["feature%d" % i] = feature
    torch.save(golden, os.path.join(out, "ssl4eo-B04B03B02B08.pt"))


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(2026)
    for arch in ("resnet18", "resnet34", "resnet50"):
        model = getattr(torchvision.models, arch)()
        randomise_batch_norms(model)
        model.eval()
        torch.save(dict(model.state_dict()), os.path.join(out, arch + ".pt"))
        if arch == "resnet18":  # what satunet refuses, with how to convert it
            state = model.state_dict()
            torch.save(state, os.path.join(out, "resnet18-ordered.pt"))
            torch.save(state, os.path.join(out, "resnet18-legacy.pt"),
                       _use_new_zipfile_serialization=False)
            torch.save(torch.zeros(3), os.path.join(out, "resnet18-tensor.pt"))
        for bands in (3, 4):
            x = torch.randn(2, bands, 64, 64)
            with torch.no_grad():
                golden = {"input": x}
                for i, feature in enumerate(features(model, x)):
                    golden["feature%d" % i] = feature
            torch.save(golden, os.path.join(out, "%s-%d.pt" % (arch, bands)))
    satellite_weights(out)
    print("resnet goldens in", out)


if __name__ == "__main__":
    main(sys.argv[1])
