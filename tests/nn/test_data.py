"""Dataset readers on small files written in each real format, and the augmentations."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from fastmm.errors import InputError
from fastmm.nn import data

torch.set_num_threads(1)


def write_idx_dataset(directory, n_train=40, n_test=20, size=28, gz=True, seed=0):
    """Fashion-MNIST-style IDX files; returns the arrays written."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        # noise plus a bright band whose row gives the class, so a tiny net can learn it
        images = rng.integers(0, 100, (n, size, size), dtype=np.uint8)
        for i, label in enumerate(labels):
            row = 2 + 2 * int(label) * (size - 6) // 18
            images[i, row : row + 3] = 255
        data.write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
        data.write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        arrays[prefix] = (images, labels)
    return arrays


def write_cifar_dataset(directory, per_batch=6, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    root = directory / "cifar-10-batches-py"
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(1, 6):
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        images = rng.integers(0, 60, (per_batch, 3, 32, 32), dtype=np.uint8)
        for k, label in enumerate(labels):  # learnable: the class sets a channel's level
            images[k, label % 3] += np.uint8(40 + 15 * label)
        data.write_cifar_batch(root / f"data_batch_{i}", images, labels)
        written.append((images, labels))
    test_labels = [k % 10 for k in range(n_test)]
    test_images = rng.integers(0, 60, (n_test, 3, 32, 32), dtype=np.uint8)
    for k, label in enumerate(test_labels):
        test_images[k, label % 3] += np.uint8(40 + 15 * label)
    data.write_cifar_batch(root / "test_batch", test_images, test_labels)
    return written, (test_images, test_labels)


def write_imagenet_dataset(directory, classes=("n01", "n02", "n03"), per_class=3, size=(40, 30)):
    from PIL import Image

    rng = np.random.default_rng(0)
    written = {}
    for split in ("train", "val"):
        for ci, c in enumerate(classes):
            folder = directory / split / c
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                pixels = rng.integers(0, 80, (size[1], size[0], 3), dtype=np.uint8)
                pixels[..., ci % 3] += 170  # learnable: the class is the dominant colour
                ext = "png" if k % 2 == 0 else "JPEG"
                path = folder / f"img{k}.{ext}"
                Image.fromarray(pixels).save(path)
                written[str(path)] = pixels
    return written


# ----------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_raw_and_gzip(tmp_path, gz):
    arrays = write_idx_dataset(tmp_path, gz=gz)
    images, labels = data.load_idx_split(tmp_path, train=True)
    assert images.dtype == torch.uint8 and images.shape == (40, 1, 28, 28)
    assert np.array_equal(images[:, 0].numpy(), arrays["train"][0])
    assert np.array_equal(labels.numpy(), arrays["train"][1].astype(np.int64))
    test_images, _ = data.load_idx_split(tmp_path, train=False)
    assert np.array_equal(test_images[:, 0].numpy(), arrays["t10k"][0])


def test_idx_header_is_the_lecun_format(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    data.write_idx(path, np.arange(6, dtype=np.uint8).reshape(1, 2, 3))
    raw = path.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03"
    assert struct.unpack(">3I", raw[4:16]) == (1, 2, 3)
    assert raw[16:] == bytes(range(6))
    gz = tmp_path / "y.gz"
    gz.write_bytes(gzip.compress(raw))
    assert np.array_equal(data.read_idx(gz), data.read_idx(path))


def test_idx_int32_big_endian(tmp_path):
    values = np.array([[1, -2], [70000, 3]], dtype=np.int32)
    data.write_idx(tmp_path / "a", values)
    assert np.array_equal(data.read_idx(tmp_path / "a"), values)


def test_idx_truncated_file_is_an_input_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    data.write_idx(path, np.zeros((2, 4, 4), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(InputError, match="header says"):
        data.read_idx(path)
    (tmp_path / "bad").write_bytes(b"hello world")
    with pytest.raises(InputError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")


def _set_label(path, index, value, dtype=np.uint8):
    labels = data.read_idx(path).astype(dtype)
    labels[index] = value
    data.write_idx(path, labels)


@pytest.mark.parametrize(
    "split, value, dtype, message",
    [
        ("train", 255, np.uint8, "label 255 (item 3) is outside 0..9: mnist has 10 classes"),
        ("t10k", 10, np.uint8, "label 10 (item 3) is outside 0..9: mnist has 10 classes"),
        ("t10k", -1, np.int8, "label -1 (item 3) is outside 0..9: mnist has 10 classes"),
        ("train", 2.5, np.float32, "mnist labels must be integers, got float32"),
    ],
)
def test_idx_labels_outside_the_classes_are_refused_naming_the_file(tmp_path, split, value, dtype,
                                                                     message):
    write_idx_dataset(tmp_path, gz=False)
    path = tmp_path / f"{split}-labels-idx1-ubyte"
    _set_label(path, 3, value, dtype)
    with pytest.raises(InputError) as err:
        data.load_dataset("mnist", tmp_path, train=split == "train")
    assert str(err.value) == f"{path}: {message}"


def test_the_classes_of_a_dataset_are_its_own_not_its_largest_label(tmp_path):
    write_idx_dataset(tmp_path, n_train=3, n_test=3)  # labels 0, 1, 2 only
    assert data.load_dataset("fashion-mnist", tmp_path, train=True).num_classes == 10
    write_cifar_dataset(tmp_path / "c")
    assert data.load_dataset("cifar10", tmp_path / "c", train=False).num_classes == 10


def test_missing_fashion_mnist_names_directory_and_package(tmp_path):
    with pytest.raises(InputError) as err:
        data.load_dataset("fashion-mnist", tmp_path / "nowhere")
    msg = str(err.value)
    assert str(tmp_path / "nowhere") in msg and "apt-get install dataset-fashion-mnist" in msg
    assert "\n" not in msg


def test_train_subset_is_seeded_and_sized(tmp_path):
    write_idx_dataset(tmp_path, n_train=50)
    a = data.load_dataset("mnist", tmp_path, train=True, subset=12, seed=3)
    b = data.load_dataset("mnist", tmp_path, train=True, subset=12, seed=3)
    assert len(a) == 12 and torch.equal(a.images, b.images)


# ----------------------------------------------------------------------------- CIFAR-10


def test_cifar_batches_read_back_exactly(tmp_path):
    written, (test_images, test_labels) = write_cifar_dataset(tmp_path)
    for directory in (tmp_path, tmp_path / "cifar-10-batches-py"):
        images, labels = data.load_cifar10_split(directory, train=True)
        assert images.shape == (30, 3, 32, 32)
        assert np.array_equal(images.numpy(), np.concatenate([w[0] for w in written]))
        assert labels.tolist() == sum((w[1] for w in written), [])
    images, labels = data.load_cifar10_split(tmp_path, train=False)
    assert np.array_equal(images.numpy(), test_images) and labels.tolist() == test_labels


def test_cifar_channel_layout_is_rrr_ggg_bbb(tmp_path):
    images = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    images[0, 0], images[0, 1], images[0, 2] = 10, 20, 30
    data.write_cifar_batch(tmp_path / "b", images, [4])
    back, labels = data.read_cifar_batch(tmp_path / "b")
    assert back[0, :, 5, 7].tolist() == [10, 20, 30] and labels.tolist() == [4]


def test_missing_cifar_batches(tmp_path):
    write_cifar_dataset(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(InputError, match="missing data_batch_3"):
        data.load_dataset("cifar10", tmp_path)


def test_cifar_label_outside_the_classes_is_refused_naming_the_batch(tmp_path):
    write_cifar_dataset(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    images, labels = data.read_cifar_batch(path)
    data.write_cifar_batch(path, images, [*labels.tolist()[:-1], 10])
    with pytest.raises(InputError, match=f"^{path}: label 10 \\(item 5\\) is outside 0..9: cifar10 has 10"):
        data.load_dataset("cifar10", tmp_path)


def test_damaged_cifar_batch(tmp_path):
    (tmp_path / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="cannot read CIFAR-10 batch"):
        data.read_cifar_batch(tmp_path / "test_batch")


# ----------------------------------------------------------------------------- ImageNet


def test_imagenet_folders_read_back(tmp_path):
    written = write_imagenet_dataset(tmp_path)
    val = data.load_dataset("imagenet", tmp_path, train=False, image_size=16)
    assert val.classes == ["n01", "n02", "n03"] and len(val) == 9
    assert val.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    path, label = val.samples[0]
    assert path.endswith("img0.png") and label == 0
    from PIL import Image

    with Image.open(path) as im:  # PNG is lossless: the exact pixels come back
        assert np.array_equal(np.asarray(im.convert("RGB")), written[path])
    x, y = val[0]
    assert x.shape == (3, 16, 16) and y == 0


def test_imagenet_train_augmentation_is_seeded_per_epoch(tmp_path):
    write_imagenet_dataset(tmp_path)
    ds = data.load_dataset("imagenet", tmp_path, train=True, image_size=12, seed=1)
    ds.set_epoch(4)
    a = ds[2][0]
    ds.set_epoch(5)
    b = ds[2][0]
    ds.set_epoch(4)
    assert torch.equal(a, ds[2][0]) and not torch.equal(a, b)


def test_missing_imagenet(tmp_path):
    with pytest.raises(InputError, match="train/<class>"):
        data.load_dataset("imagenet", tmp_path)


# ----------------------------------------------------------------------------- augmentation


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    images = torch.arange(2 * 1 * 5 * 5, dtype=torch.uint8).reshape(2, 1, 5, 5)
    out = data.random_crop_flip(images, 2, False, data.generator(0))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, y : y + 5, x : x + 5] for y in range(5) for x in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_flip_mirrors_columns():
    images = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = data.random_crop_flip(images, 0, True, data.generator(1))
    flipped = [torch.equal(o, images[0].flip(2)) for o in out]
    kept = [torch.equal(o, images[0]) for o in out]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and 10 < sum(flipped) < 54


def test_batch_normalizes_with_dataset_statistics(tmp_path):
    write_idx_dataset(tmp_path)
    ds = data.load_dataset("fashion-mnist", tmp_path, train=False)
    x, y = ds.batch(torch.tensor([0, 1]))
    expected = (ds.images[:2].float() / 255 - 0.2860) / 0.3530
    assert torch.allclose(x, expected) and y.tolist() == [0, 1]


def test_cifar_batch_with_code_is_refused(tmp_path):
    import os
    import pickle

    import pytest

    from fastmm.errors import InputError
    from fastmm.nn.data import read_cifar_batch

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Evil(), b"labels": [0]}, protocol=2))
    with pytest.raises(InputError, match="refusing to load"):
        read_cifar_batch(path)
    assert not (tmp_path / "pwned").exists()
