"""Reads satunet's model exports as their users would, without satunet, and measures them.

For each CASE directory (written by tests/test_export.cpp) holding golden.pt (satunet's own
{"input", "logits"} for a fixed random input), state-dict/ (satunet export --format
state-dict) and the ONNX files of satunet export --format onnx:
  - python3-torch: state-dict/model.py builds the network, the state dict loads into it
    strictly, and its logits are compared with satunet's; where model.json gives smp.Unet's
    arguments, the same dict loads strictly into segmentation_models.pytorch's Unet as that
    library's source builds it (below: SMP itself is not packaged for Debian);
  - python3-onnx: the checker's verdict (full check), the opset, the input's and output's
    dimensions and the metadata;
  - python3-opencv: cv2.dnn runs each ONNX file on the same input.
Prints one JSON object: {CASE: {what was measured}}; the GoogleTest suite judges it.

    python3 tests/export/check_export.py CASE...
"""
import importlib.util
import json
import os
import sys

import cv2
import onnx
import torch
import torchvision
from torch import nn
import torch.nn.functional as F


def load_python_module(path):
    spec = importlib.util.spec_from_file_location("exported_%d" % abs(hash(path)), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def max_difference(a, b):
    return float((torch.as_tensor(a) - torch.as_tensor(b)).abs().max())


# ---- segmentation_models.pytorch's Unet over a ResNet, as its source (0.3) builds it ----


# encoders/resnet.py's out_channels of each encoder (the input's first, as SMP lists them).
SMP_OUT_CHANNELS = {
    "resnet18": (3, 64, 64, 128, 256, 512),
    "resnet34": (3, 64, 64, 128, 256, 512),
    "resnet50": (3, 64, 256, 512, 1024, 2048),
}


class SmpConv2dReLU(nn.Sequential):  # base/modules.py
    def __init__(self, in_channels, out_channels, use_batchnorm):
        conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not use_batchnorm)
        norm = nn.BatchNorm2d(out_channels) if use_batchnorm else nn.Identity()
        super().__init__(conv, norm, nn.ReLU(inplace=True))


class SmpDecoderBlock(nn.Module):  # decoders/unet/decoder.py, attention_type None
    def __init__(self, in_channels, skip_channels, out_channels, use_batchnorm):
        super().__init__()
        self.conv1 = SmpConv2dReLU(in_channels + skip_channels, out_channels, use_batchnorm)
        self.attention1 = nn.Identity()
        self.conv2 = SmpConv2dReLU(out_channels, out_channels, use_batchnorm)
        self.attention2 = nn.Identity()

    def forward(self, x, skip=None):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if skip is not None:
            x = self.attention1(torch.cat([x, skip], dim=1))
        return self.attention2(self.conv2(self.conv1(x)))


class SmpUnetDecoder(nn.Module):
    def __init__(self, encoder_channels, decoder_channels, use_batchnorm):
        super().__init__()
        encoder_channels = encoder_channels[1:][::-1]
        in_channels = [encoder_channels[0]] + list(decoder_channels[:-1])
        skip_channels = list(encoder_channels[1:]) + [0]
        self.center = nn.Identity()
        self.blocks = nn.ModuleList(
            SmpDecoderBlock(i, s, o, use_batchnorm)
            for i, s, o in zip(in_channels, skip_channels, decoder_channels)
        )

    def forward(self, *features):
        features = features[1:][::-1]
        head, skips = features[0], features[1:]
        x = self.center(head)
        for i, block in enumerate(self.blocks):
            x = block(x, skips[i] if i < len(skips) else None)
        return x


class SmpUnet(nn.Module):
    """smp.Unet(encoder_name, encoder_weights=None, in_channels, classes, decoder_channels,
    decoder_use_batchnorm): encoders/resnet.py's ResNetEncoder is torchvision's ResNet without
    fc and avgpool, its first convolution remade for other than 3 input channels."""

    def __init__(self, encoder_name, encoder_weights, in_channels, classes, decoder_channels,
                 decoder_use_batchnorm):
        super().__init__()
        assert encoder_weights is None
        self.encoder = getattr(torchvision.models, encoder_name)()
        del self.encoder.fc
        del self.encoder.avgpool
        if in_channels != 3:
            self.encoder.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.decoder = SmpUnetDecoder(SMP_OUT_CHANNELS[encoder_name], decoder_channels,
                                      decoder_use_batchnorm)
        self.segmentation_head = nn.Sequential(
            nn.Conv2d(decoder_channels[-1], classes, 3, padding=1), nn.Identity(), nn.Identity())

    def forward(self, x):
        e = self.encoder
        stem = e.relu(e.bn1(e.conv1(x)))
        features = [x, stem]
        y = e.maxpool(stem)
        for layer in (e.layer1, e.layer2, e.layer3, e.layer4):
            y = layer(y)
            features.append(y)
        return self.segmentation_head(self.decoder(*features))


# ---- the checks ----


def check_state_dict(directory, golden):
    exported = load_python_module(os.path.join(directory, "model.py"))
    net, meta = exported.load(directory)
    state = torch.load(os.path.join(directory, "model.pt"), map_location="cpu")
    with torch.no_grad():
        logits = net(golden["input"])
    # normalise() inverts what the input would be as pixels.
    mean = torch.tensor([band["mean"] for band in meta["bands"]]).view(1, -1, 1, 1)
    std = torch.tensor([band["std"] for band in meta["bands"]]).view(1, -1, 1, 1)
    pixels = golden["input"] * std + mean
    result = {
        "keys": list(state.keys()),
        "max_diff": max_difference(logits, golden["logits"]),
        "normalise_max_diff": max_difference(exported.normalise(pixels, meta), golden["input"]),
        "meta": meta,
    }
    return result


def check_smp(directory, golden):
    """The state dict in segmentation_models.pytorch's Unet, built from model.json's smp_unet."""
    with open(os.path.join(directory, "model.json"), encoding="utf-8") as file:
        arguments = json.load(file)["smp_unet"]
    if arguments is None:  # no such network in SMP
        return {"arguments": None}
    state = torch.load(os.path.join(directory, "model.pt"), map_location="cpu")
    smp = SmpUnet(**arguments)
    expected = set(smp.state_dict().keys())
    result = {"arguments": arguments,
              "missing": sorted(expected - set(state.keys())),
              "unexpected": sorted(set(state.keys()) - expected)}
    smp.load_state_dict(state, strict=True)
    with torch.no_grad():
        result["max_diff"] = max_difference(smp.eval()(golden["input"]), golden["logits"])
    return result


def dims_of(value):
    return [d.dim_param if d.HasField("dim_param") else d.dim_value
            for d in value.type.tensor_type.shape.dim]


def check_onnx(path, golden, expected):
    model = onnx.load(path)
    result = {"opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
              "ir_version": model.ir_version,
              "inputs": [[v.name, dims_of(v)] for v in model.graph.input],
              "outputs": [[v.name, dims_of(v)] for v in model.graph.output],
              "metadata": {p.key: p.value for p in model.metadata_props}}
    try:
        onnx.checker.check_model(model, full_check=True)
        result["checker"] = "ok"
    except Exception as error:  # the verdict goes to the suite, which says it
        result["checker"] = str(error)
    if expected is not None:
        net = cv2.dnn.readNetFromONNX(path)
        net.setInput(golden["input"].numpy())
        result["opencv_max_diff"] = max_difference(net.forward(), expected)
    return result


def guarded(check, *args):
    """The check's measurements, or {"error": why it could not measure} (a strict load that
    fails, a graph OpenCV cannot read), for the suite to say."""
    try:
        return check(*args)
    except Exception as error:  # pylint: disable=broad-except
        return {"error": "%s: %s" % (type(error).__name__, error)}


def check_case(case):
    golden = torch.load(os.path.join(case, "golden.pt"))
    logits = golden["logits"]
    state_dict = os.path.join(case, "state-dict")
    result = {"state_dict": guarded(check_state_dict, state_dict, golden),
              "smp": guarded(check_smp, state_dict, golden),
              "onnx": guarded(check_onnx, os.path.join(case, "model.onnx"), golden, logits)}
    probabilities = os.path.join(case, "model-probabilities.onnx")
    if os.path.exists(probabilities):
        softmax = torch.softmax(logits, 1)
        result["onnx_probabilities"] = guarded(check_onnx, probabilities, golden, softmax)
    fixed = os.path.join(case, "model-fixed.onnx")
    if os.path.exists(fixed):
        result["onnx_fixed"] = guarded(check_onnx, fixed, golden, None)
    return result


def main():
    torch.set_num_threads(1)
    print(json.dumps({os.path.basename(case): check_case(case) for case in sys.argv[1:]}))


if __name__ == "__main__":
    main()
