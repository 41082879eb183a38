"""ResNets for CIFAR-10 / (Fashion-)MNIST and ImageNet, in the style of torchvision's resnet.py.

- CIFAR ResNet-(6n+2) (He et al. 2016, §4.2): a 3×3 conv with 16 channels, three stages of
  n BasicBlocks with 16/32/64 channels (stride 2 at the start of stages 2 and 3), global
  average pooling and a linear classifier. Shortcuts that change shape use "option B", a
  1×1 conv projection + BatchNorm, so that `strassenify` can convert them too. n = 1, 3, 5,
  7, 9 give ResNet-8/20/32/44/56; `in_channels=1` takes 28×28 (Fashion-)MNIST images.
- ImageNet ResNet-18/34: a 7×7 stride-2 conv with 64 channels and a 3×3 max pool, four
  stages of BasicBlocks with 64/128/256/512 channels, global average pooling, classifier.
  `small_input=True` swaps the stem for a 3×3 stride-1 conv without max pool (the usual
  variant for 28×28 or 32×32 images).

`width` multiplies every channel count (quick CPU experiments); `build_model` is the one
registry the command line and the training code use. Its `quant` ("twn" or "ttq") builds the
ternary-weight baselines: the same network with every conv — the layers StrassenNets
replaces — a `fastmm.nn.ternary` conv and the classifier at full precision. The blocks do
not know about it: the builder swaps the convs after building (`ternarize`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

from torch import Tensor, nn

from fastmm.errors import InputError
from fastmm.nn.layers import _int, _real
from fastmm.nn.ternary import QUANTIZERS, ternarize


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convs with BatchNorm and ReLU; identity or 1×1-projection shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(conv1x1(in_planes, planes, stride), nn.BatchNorm2d(planes))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def _make_stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [BasicBlock(in_planes, planes, stride)]
    layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _channels(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


def _check(num_classes: int, in_channels: int, width: float) -> tuple[int, int, float]:
    """The builders' common arguments as int, int, float; InputError for a wrong type or range."""
    num_classes, in_channels = _int(num_classes, "num_classes"), _int(in_channels, "in_channels")
    width = _real(width, "width")
    if num_classes < 1 or in_channels < 1 or not (width > 0 and math.isfinite(width)):
        raise InputError("num_classes and in_channels must be >= 1 and width a finite number > 0")
    return num_classes, in_channels, width


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32×32 (or 28×28) images."""

    def __init__(self, n: int, num_classes: int = 10, in_channels: int = 3, width: float = 1.0):
        super().__init__()
        num_classes, in_channels, width = _check(num_classes, in_channels, width)
        c1, c2, c3 = (_channels(c, width) for c in (16, 32, 64))
        self.conv1 = conv3x3(in_channels, c1)
        self.bn1 = nn.BatchNorm2d(c1)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _make_stage(c1, c1, n, 1)
        self.layer2 = _make_stage(c1, c2, n, 2)
        self.layer3 = _make_stage(c2, c3, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c3, num_classes)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


class ResNet(nn.Module):
    """ImageNet ResNet with BasicBlocks (ResNet-18/34)."""

    def __init__(
        self,
        layers: list[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        width: float = 1.0,
        small_input: bool = False,
    ):
        super().__init__()
        num_classes, in_channels, width = _check(num_classes, in_channels, width)
        if not isinstance(small_input, bool):
            raise InputError(f"small_input must be True or False, got {small_input!r:.40}")
        planes = [_channels(c, width) for c in (64, 128, 256, 512)]
        if small_input:
            self.conv1 = conv3x3(in_channels, planes[0])
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, planes[0], 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _make_stage(planes[0], planes[0], layers[0], 1)
        self.layer2 = _make_stage(planes[0], planes[1], layers[1], 2)
        self.layer3 = _make_stage(planes[1], planes[2], layers[2], 2)
        self.layer4 = _make_stage(planes[2], planes[3], layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(planes[3], num_classes)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet8(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> CifarResNet:
    return CifarResNet(1, num_classes, in_channels, width)


def resnet20(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> CifarResNet:
    return CifarResNet(3, num_classes, in_channels, width)


def resnet32(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> CifarResNet:
    return CifarResNet(5, num_classes, in_channels, width)


def resnet44(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> CifarResNet:
    return CifarResNet(7, num_classes, in_channels, width)


def resnet56(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> CifarResNet:
    return CifarResNet(9, num_classes, in_channels, width)


def resnet18(
    num_classes: int = 1000, in_channels: int = 3, width: float = 1.0, small_input: bool = False
) -> ResNet:
    return ResNet([2, 2, 2, 2], num_classes, in_channels, width, small_input)


def resnet34(
    num_classes: int = 1000, in_channels: int = 3, width: float = 1.0, small_input: bool = False
) -> ResNet:
    return ResNet([3, 4, 6, 3], num_classes, in_channels, width, small_input)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet8": resnet8,
    "resnet20": resnet20,
    "resnet32": resnet32,
    "resnet44": resnet44,
    "resnet56": resnet56,
    "resnet18": resnet18,
    "resnet34": resnet34,
}


def build_model(
    name: str, num_classes: int = 10, in_channels: int = 3, *, quant: str | None = None, **kw
) -> nn.Module:
    """Build a model by name ("resnet8", "resnet20", ..., "resnet18", "resnet34").

    Extra keywords go to the builder: `width` for all, `small_input` for resnet18/34.
    `quant` ("twn", "ttq"; None: full precision) makes every conv ternary-weight.
    """
    if quant is not None and str(quant).lower() not in QUANTIZERS:
        raise InputError(f"unknown quantization {quant!r}; choose one of: {', '.join(QUANTIZERS)}")
    builder = MODELS.get(str(name).lower())
    if builder is None:
        raise InputError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    allowed = set(inspect.signature(builder).parameters) - {"num_classes", "in_channels"}
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise InputError(f"{name} does not take {', '.join(unknown)}; it takes: {', '.join(sorted(allowed))}")
    model = builder(num_classes=num_classes, in_channels=in_channels, **kw)
    return model if quant is None else ternarize(model, str(quant).lower())
