"""Datasets for `fastmm train`: Fashion-MNIST / MNIST (IDX), CIFAR-10 (pickle batches), ImageNet.

Small datasets are held in memory as uint8 tensors and augmented a whole batch at a
time (`TensorImageDataset.batch`). ImageNet is read image by image with Pillow
(`ImageFolderDataset`). Every random choice — the shuffle and every crop and flip —
comes from a generator seeded by (seed, epoch, ...), so an epoch is the same whether
the run was interrupted before it or not.

Formats
- IDX (LeCun's MNIST format, also Fashion-MNIST): big-endian header, magic
  0x0000 <type> <ndim>, ndim int32 sizes, then the data; raw or gzip-compressed.
- CIFAR-10 "python version": `cifar-10-batches-py/data_batch_1..5` and `test_batch`,
  each a pickled dict {b"data": uint8 N×3072, b"labels": [...]}. These files are
  pickles by the dataset's own definition, so this is the one place in fastmm that
  unpickles, with an unpickler that can build only containers and numpy arrays (any
  other global a crafted file names is refused, so no code runs), and the result is
  checked to be exactly that dict of an array and a list of ints.
- ImageNet: `train/<class>/*.JPEG` and `val/<class>/*.JPEG` (classes sorted by name).

Length: a little under 600 lines, because the four dataset layouts share one loader, one
augmentation and one batching path that are easier to check side by side.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fastmm.errors import InputError
from fastmm.validate import digits

DATASETS = ("fashion-mnist", "mnist", "cifar10", "imagenet")
DEFAULT_DIRS = {
    "fashion-mnist": "/usr/share/datasets/fashion-mnist",
    "mnist": "/usr/share/datasets/mnist",
    "cifar10": "data/cifar-10-batches-py",
    "imagenet": "data/imagenet",
}
HOW_TO_GET = {
    "fashion-mnist": "install it with `apt-get install dataset-fashion-mnist` or pass --data-dir "
    "with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-*",
    "mnist": "pass --data-dir with the MNIST IDX files train-images-idx3-ubyte[.gz], "
    "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]",
    "cifar10": "unpack cifar-10-python.tar.gz there (data_batch_1..5, test_batch)",
    "imagenet": "pass --data-dir with train/<class>/*.JPEG and val/<class>/*.JPEG",
}
# Per-channel mean and std of the training images (in [0, 1] units).
NORMALIZATION = {
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
# Classes of the datasets with fixed label sets (ImageNet's are its class folders).
CLASSES = {"fashion-mnist": 10, "mnist": 10, "cifar10": 10}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")


# ----------------------------------------------------------------------------- seeds


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (splitmix64), stable across runs and platforms."""
    x = 0x9E3779B97F4A7C15
    for part in parts:
        x = (x ^ (int(part) & 0xFFFFFFFFFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
        x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        x = z ^ (z >> 31)
    return x & 0x7FFFFFFFFFFFFFFF


def generator(*parts: int) -> torch.Generator:
    """A CPU torch.Generator seeded from `parts`."""
    return torch.Generator().manual_seed(derive_seed(*parts))


def check_labels(labels: np.ndarray, path: str | Path, classes: int, dataset: str) -> None:
    """Labels must be integers in 0..classes-1: a stray 255 would otherwise build a 256-class
    model or break the loss far from the file that holds it."""
    if labels.dtype.kind not in "iu":
        raise InputError(f"{path}: {dataset} labels must be integers, got {labels.dtype}")
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if len(bad):
        raise InputError(f"{path}: label {int(labels[bad[0]])} (item {int(bad[0])}) is outside "
                         f"0..{classes - 1}: {dataset} has {classes} classes")


def check_pixels(images: np.ndarray, path: str | Path) -> None:
    """Pixel values must be integers in 0..255: anything else would wrap silently in uint8."""
    if images.dtype == np.uint8:
        return
    if images.dtype.kind == "f":
        bad = ~np.isfinite(images) | (images != np.floor(images)) | (images < 0) | (images > 255)
    else:
        bad = (images < 0) | (images > 255)
    hits = np.flatnonzero(bad.reshape(-1))
    if len(hits):
        value = images.reshape(-1)[hits[0]].item()
        raise InputError(f"{path}: pixel value {value!r:.30} (item {int(hits[0]) // max(1, images[0].size)}) "
                         f"is not an integer in 0..255 ({images.dtype} image data)")


# ----------------------------------------------------------------------------- IDX

_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


# At most this much IDX data is read (MNIST's largest file holds 47 MB): a header that
# declares more is refused before anything is decompressed or allocated.
MAX_IDX_BYTES = 1 << 30
# More dimensions than any IDX dataset has (numpy's own limit is 64).
MAX_IDX_DIMS = 16


def _read_exactly(f, n: int) -> bytes:
    """Up to n bytes from a (gzip) stream: fewer only at its end (for short reads)."""
    parts, left = [], n
    while left > 0:
        chunk = f.read(min(left, 1 << 24))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _read_into(f, buffer: np.ndarray) -> int:
    """Fill the uint8 `buffer` from a (gzip) stream, in chunks of at most 1 MiB, so the data is
    held once; the number of bytes read (fewer only at the stream's end)."""
    view, done = memoryview(buffer), 0
    while done < len(buffer):
        got = f.readinto(view[done:done + (1 << 20)])
        if not got:
            break
        done += got
    return done


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip, detected from the content) into a numpy array.

    The header is read first: a header with another number of dimensions than `ndim` (when
    given), or declaring more than MAX_IDX_BYTES (1 GiB) of data, is refused before the data
    is read. Of a gzip file no more is decompressed than the header declares (and one byte
    more, to find extra data), into one buffer of the declared size, so a small file cannot
    expand to more than that in memory."""
    path = Path(path)
    try:
        with open(path, "rb") as raw_file:
            compressed = raw_file.read(2) == b"\x1f\x8b"
        opener = gzip.open if compressed else open
        with opener(path, "rb") as f:
            head = _read_exactly(f, 4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
                raise InputError(f"{path} is not an IDX file (bad magic number)")
            dtype, dims_n = _IDX_DTYPES[head[2]], head[3]
            if ndim is not None and dims_n != ndim or dims_n > MAX_IDX_DIMS:
                wanted = f"{ndim}" if ndim is not None else f"at most {MAX_IDX_DIMS}"
                raise InputError(f"{path}: the IDX header declares {dims_n} dimensions, expected {wanted}")
            dims = _read_exactly(f, 4 * dims_n)
            if len(dims) < 4 * dims_n:
                raise InputError(f"{path}: truncated IDX header")
            shape = struct.unpack(f">{dims_n}I", dims)
            expected = math.prod(shape) * dtype.itemsize
            if expected > MAX_IDX_BYTES:
                raise InputError(f"{path}: the IDX header declares {digits(expected)} bytes of data, "
                                 f"more than the {MAX_IDX_BYTES:,} bytes read at most")
            body = np.empty(expected, dtype=np.uint8)
            got = _read_into(f, body)
            extra = got == expected and len(f.read(1)) > 0
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"cannot read IDX file {path}: {exc}") from None
    if got != expected or extra:
        raise InputError(f"{path}: IDX data has {f'more than {expected}' if extra else got} bytes, "
                         f"the header says {expected}")
    # copy=False: uint8 data is returned as read, not copied a second time
    return body.view(dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write an IDX file (gzip when `compress`, or when the name ends in .gz)."""
    path = Path(path)
    array = np.asarray(array)
    codes = {v.newbyteorder("="): k for k, v in _IDX_DTYPES.items()}
    code = codes[array.dtype.newbyteorder("=")]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(_IDX_DTYPES[code]).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def _find_idx(directory: Path, stem: str) -> Path | None:
    # Original MNIST spells the stem with a dot in some mirrors: train-images.idx3-ubyte
    variants = [stem, stem.replace("-idx", ".idx")]
    for name in variants:
        for suffix in ("", ".gz"):
            candidate = directory / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def load_idx_split(directory: str | Path, train: bool, dataset: str = "fashion-mnist"):
    """(images uint8 N×1×H×W, labels int64 N) from the IDX files of one split."""
    directory = Path(directory)
    prefix = "train" if train else "t10k"
    paths = [
        _find_idx(directory, f"{prefix}-{kind}")
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
    ]
    if not directory.is_dir() or None in paths:
        raise InputError(
            f"{dataset} data not found in {directory} "
            f"(expected {prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz]): "
            f"{HOW_TO_GET[dataset]}"
        )
    images, labels = read_idx(paths[0], ndim=3), read_idx(paths[1], ndim=1)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise InputError(
            f"{directory}: IDX images {images.shape} and labels {labels.shape} do not match"
        )
    check_labels(labels, paths[1], CLASSES[dataset], dataset)
    check_pixels(images, paths[0])
    return torch.from_numpy(images.astype(np.uint8)).unsqueeze(1), torch.from_numpy(
        labels.astype(np.int64)
    )


# ----------------------------------------------------------------------------- CIFAR-10


def _cifar_dir(directory: Path) -> Path:
    if (directory / "cifar-10-batches-py").is_dir():
        return directory / "cifar-10-batches-py"
    return directory


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: any other global (os.system, ...)
    that a crafted file names is refused, so reading a batch cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays)")
        return super().find_class(module, name)


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch file → (uint8 N×3×32×32, int64 N).

    Unpickles the file (the dataset's own format, see the module docstring) and checks
    that it holds exactly the expected arrays.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            entry = _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except MemoryError:  # a length field (BINBYTES8, ...) claiming gigabytes
        raise InputError(f"cannot read CIFAR-10 batch {path}: it claims more memory than is "
                         "available") from None
    except Exception as exc:  # a damaged pickle raises many kinds of errors
        reason = str(exc)[:200] or type(exc).__name__
        raise InputError(f"cannot read CIFAR-10 batch {path}: {reason}") from None
    if not isinstance(entry, dict) or b"data" not in entry or b"labels" not in entry:
        raise InputError(f"{path} is not a CIFAR-10 batch (no data/labels)")
    # The structure is checked before anything is converted: a list of shared references is
    # tiny in the pickle but np.asarray would expand it to gigabytes.
    data, raw = entry[b"data"], entry[b"labels"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
    ):
        raise InputError(f"{path}: CIFAR-10 data must be uint8 N×3072 with a list of N integer labels")
    if isinstance(raw, np.ndarray):
        if raw.ndim != 1 or raw.dtype.kind not in "iu" or (
                raw.dtype.kind == "u" and raw.size and int(raw.max()) > np.iinfo(np.int64).max):
            raise InputError(f"{path}: CIFAR-10 labels must be a list of integers, got {raw.dtype} "
                             f"values of shape {raw.shape}")
    elif isinstance(raw, list | tuple):
        for x in raw:  # plain integers only: a nested list is refused at its first element
            if isinstance(x, bool | np.bool_) or isinstance(x, np.ndarray) and x.dtype == bool:
                raise InputError(f"{path}: CIFAR-10 labels must be a list of integers, not True/False")
            if not isinstance(x, int | np.integer) or not -2**63 <= int(x) < 2**63:
                shown = f" {digits(x)}" if isinstance(x, int | np.integer) else ""  # never str(list)
                raise InputError(f"{path}: CIFAR-10 labels must be a list of integers, got "
                                 f"{type(x).__name__}{shown}")
    else:
        raise InputError(f"{path}: CIFAR-10 labels must be a list of integers, got {type(raw).__name__}")
    if len(raw) != len(data):
        raise InputError(f"{path}: CIFAR-10 data must be uint8 N×3072 with N labels "
                         f"({len(data)} images, {len(raw)} labels)")
    labels = np.asarray(raw, dtype=np.int64)
    return data.reshape(-1, 3, 32, 32), labels


def write_cifar_batch(path: str | Path, images: np.ndarray, labels: list[int]) -> None:
    """Write a batch file in the CIFAR-10 python format (used by the tests)."""
    entry = {
        b"batch_label": b"fastmm",
        b"labels": [int(v) for v in labels],
        b"data": np.ascontiguousarray(images, dtype=np.uint8).reshape(len(labels), 3072),
        b"filenames": [f"{i}.png".encode() for i in range(len(labels))],
    }
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=2)


def load_cifar10_split(directory: str | Path, train: bool):
    """(images uint8 N×3×32×32, labels int64 N) for the train (5 batches) or test split."""
    directory = _cifar_dir(Path(directory))
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise InputError(
            f"cifar10 data not found in {directory} (missing {', '.join(missing)}): "
            f"{HOW_TO_GET['cifar10']}"
        )
    parts = [read_cifar_batch(directory / n) for n in names]
    for name, (_, labels) in zip(names, parts, strict=True):
        check_labels(labels, directory / name, CLASSES["cifar10"], "cifar10")
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


# ----------------------------------------------------------------------------- augmentation


def random_crop_flip(
    images: torch.Tensor, padding: int, flip: bool, gen: torch.Generator
) -> torch.Tensor:
    """Random crop of the original size after zero padding, and random horizontal flip.

    `images` is a uint8 or float batch N×C×H×W; the choices come from `gen`.
    """
    n, _, h, w = images.shape
    out = images
    if padding > 0:
        padded = torch.nn.functional.pad(images, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * padding + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]
        batch = torch.arange(n)[:, None, None, None]
        chan = torch.arange(images.shape[1])[None, :, None, None]
        out = padded[batch, chan, rows, cols]
    if flip:
        mask = torch.rand(n, generator=gen) < 0.5
        out = torch.where(mask[:, None, None, None], out.flip(3), out)
    return out


@dataclass
class TensorImageDataset:
    """Images held in memory (uint8 N×C×H×W) with labels; augments a batch at a time."""

    images: torch.Tensor
    labels: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    padding: int = 0
    flip: bool = False
    train: bool = False
    classes: int | None = None  # the dataset's; None: as many as the labels show

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        if self.classes is not None:
            return self.classes
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    @property
    def in_channels(self) -> int:
        return self.images.shape[1]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return (images.float() / 255.0 - mean) / std

    def batch(self, indices: torch.Tensor, gen: torch.Generator | None = None):
        """(float images, labels) for `indices`, augmented with `gen` on the training split."""
        images = self.images[indices]
        if self.train and gen is not None and (self.padding or self.flip):
            images = random_crop_flip(images, self.padding, self.flip, gen)
        return self.normalize(images), self.labels[indices]


# ----------------------------------------------------------------------------- ImageNet


class ImageFolderDataset(torch.utils.data.Dataset):
    """`root/<class>/<image>` read with Pillow; random-resized-crop + flip when training.

    Augmentation for item i in epoch e is drawn from generator(seed, e, i), so it does
    not depend on worker processes or on where a run was resumed.
    """

    def __init__(
        self,
        root: str | Path,
        train: bool,
        size: int = 224,
        seed: int = 0,
        mean=NORMALIZATION["imagenet"][0],
        std=NORMALIZATION["imagenet"][1],
    ):
        root = Path(root)
        self.root, self.train, self.size, self.seed, self.epoch = root, train, size, seed, 0
        self.mean, self.std = tuple(mean), tuple(std)
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        self.samples: list[tuple[str, int]] = []
        for label, name in enumerate(self.classes):
            with os.scandir(root / name) as entries:
                # regular files only (or links to them): a FIFO named a.JPEG would hang training
                # and a folder named x.JPEG is no image; both are skipped like other non-images
                names = sorted(e.name for e in entries
                               if Path(e.name).suffix.lower() in IMAGE_EXTENSIONS and e.is_file())
            self.samples.extend((str(root / name / f), label) for f in names)
        self.labels = torch.tensor([s[1] for s in self.samples], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return 3

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int):
        from PIL import Image

        path, label = self.samples[index]
        bomb = (Image.DecompressionBombError, Image.DecompressionBombWarning)
        try:
            with warnings.catch_warnings():
                # past PIL's pixel limit (MAX_IMAGE_PIXELS, 89 M) it only warns, then decodes GBs
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as im:
                    im = im.convert("RGB")
        except bomb:
            raise InputError(f"cannot read image {path}: more than {Image.MAX_IMAGE_PIXELS:,} pixels, "
                             "PIL's limit against decompression bombs") from None
        except (OSError, ValueError, SyntaxError, EOFError) as exc:  # PIL's kinds for damaged files
            raise InputError(f"cannot read image {path}: {exc}") from None
        if self.train:
            gen = generator(self.seed, self.epoch, index)
            im = _random_resized_crop(im, self.size, gen)
            if torch.rand((), generator=gen) < 0.5:
                im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        else:
            im = _resize_center_crop(im, self.size)
        x = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255.0
        mean = torch.tensor(self.mean).view(-1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1)
        return (x - mean) / std, label


def _random_resized_crop(
    im, size: int, gen: torch.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
):
    from PIL import Image

    w, h = im.size
    area = w * h
    for _ in range(10):
        u = torch.rand(2, generator=gen).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * u[0])
        aspect = math.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[1])
        cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            x0 = int(torch.randint(0, w - cw + 1, (), generator=gen))
            y0 = int(torch.randint(0, h - ch + 1, (), generator=gen))
            return im.resize(
                (size, size), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch)
            )
    side = min(w, h)  # fall back to a center crop
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    return im.resize((size, size), Image.Resampling.BILINEAR, box=box)


def _resize_center_crop(im, size: int):
    from PIL import Image

    w, h = im.size
    short = round(size * 256 / 224)
    scale = short / min(w, h)
    im = im.resize(
        (max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR
    )
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


# ----------------------------------------------------------------------------- entry point


def default_data_dir(dataset: str) -> str:
    return DEFAULT_DIRS[dataset]


def load_dataset(
    dataset: str,
    data_dir: str | Path | None = None,
    train: bool = True,
    subset: int | None = None,
    seed: int = 0,
    image_size: int = 224,
):
    """The training or test split of `dataset`, as a TensorImageDataset or ImageFolderDataset.

    `subset` keeps the first N images of a fixed seeded permutation (training split only).
    """
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    directory = Path(data_dir if data_dir is not None else DEFAULT_DIRS[dataset])
    mean, std = NORMALIZATION[dataset]
    if dataset == "imagenet":
        split = directory / ("train" if train else "val")
        ds = ImageFolderDataset(split, train=train, size=image_size, seed=seed, mean=mean, std=std)
        if len(ds) == 0:
            raise InputError(
                f"imagenet data not found in {split} (no class folders with images): "
                f"{HOW_TO_GET['imagenet']}"
            )
        if train and subset:
            keep = (
                torch.randperm(len(ds), generator=generator(seed, 0x5B5E7))[:subset].sort().values
            )
            ds.samples = [ds.samples[i] for i in keep.tolist()]
            ds.labels = ds.labels[keep]
        return ds
    if dataset == "cifar10":
        images, labels = load_cifar10_split(directory, train)
        padding, flip = 4, True
    else:
        images, labels = load_idx_split(directory, train, dataset)
        padding, flip = 2, False  # random crop only: clothes and digits are not mirror-symmetric
    split = "training" if train else "test"
    if len(labels) == 0:
        raise InputError(f"{dataset} data in {directory}: the {split} split has no images")
    if images.shape[-1] == 0 or images.shape[-2] == 0:
        raise InputError(f"{dataset} data in {directory}: the {split} images are "
                         f"{images.shape[-2]}×{images.shape[-1]} pixels")
    if train and subset and subset < len(labels):
        keep = (
            torch.randperm(len(labels), generator=generator(seed, 0x5B5E7))[:subset].sort().values
        )
        images, labels = images[keep], labels[keep]
    return TensorImageDataset(images, labels, mean, std, padding, flip, train, CLASSES[dataset])
