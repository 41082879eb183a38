"""QA 105: dataset files that expand, hang or overflow messages (fastmm/nn/data.py)."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from fastmm.errors import InputError
from fastmm.nn import data

# ----------------------------------------------------------------------------- CIFAR-10


def _cifar_bomb(path, images=10):
    labels = [0] * 10
    for _ in range(9):  # 10**10 labels by reference: a few KB pickled
        labels = [labels] * 10
    entry = {b"data": np.zeros((images, 3072), dtype=np.uint8), b"labels": labels}
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=2)


def test_cifar_labels_of_shared_references_are_refused_before_expanding(tmp_path):
    path = tmp_path / "data_batch_1"
    _cifar_bomb(path)
    assert path.stat().st_size < 40_000
    code = ("from fastmm.nn import data; from fastmm.errors import InputError\n"
            f"try: data.read_cifar_batch({str(path)!r})\n"
            "except InputError as e: print(e)\n")
    # in a child process: before the fix this expanded to gigabytes and never returned
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "CIFAR-10 labels must be a list of integers, got list" in r.stdout
    assert len(r.stdout.strip().splitlines()) == 1


def test_cifar_label_count_must_match_the_images(tmp_path):
    path = tmp_path / "b"
    data.write_cifar_batch(path, np.zeros((3, 3072), np.uint8), [1, 2, 3])
    entry = pickle.load(open(path, "rb"), encoding="bytes")  # the test's own file
    entry[b"labels"] = [1, 2]
    pickle.dump(entry, open(path, "wb"), protocol=2)
    with pytest.raises(InputError, match="3 images, 2 labels"):
        data.read_cifar_batch(path)


def test_cifar_pickle_claiming_200_gib_gives_a_reason(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 200 << 30) + b"x" * 16)
    with pytest.raises(InputError) as info:
        data.read_cifar_batch(path)
    message = str(info.value)
    assert message.startswith("cannot read CIFAR-10 batch") and not message.endswith(": ")
    assert message.endswith("it claims more memory than is available")


def test_cifar_batches_still_read(tmp_path):
    path = tmp_path / "b"
    images = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3, 32, 32)
    data.write_cifar_batch(path, images, [7, 3])
    got, labels = data.read_cifar_batch(path)
    assert np.array_equal(got, images) and labels.dtype == np.int64 and labels.tolist() == [7, 3]


# ----------------------------------------------------------------------------- ImageNet


def test_image_folder_lists_regular_files_only(tmp_path):
    cls = tmp_path / "n01"
    cls.mkdir()
    Image.new("RGB", (8, 8)).save(cls / "real.JPEG", format="JPEG")
    os.symlink(cls / "real.JPEG", cls / "link.jpeg")  # a link to an image is an image
    os.mkfifo(cls / "a.JPEG")  # opening it would wait for a writer forever
    (cls / "x.JPEG").mkdir()
    ds = data.ImageFolderDataset(tmp_path, train=False, size=8)
    assert [os.path.basename(p) for p, _ in ds.samples] == ["link.jpeg", "real.JPEG"]
    assert ds[0][0].shape == (3, 8, 8)


# ----------------------------------------------------------------------------- IDX


def test_idx_with_more_dimensions_than_numpy_allows_is_refused(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 100]) + struct.pack(">100I", *[1] * 100) + b"\0")
    with pytest.raises(InputError, match="declares 100 dimensions"):
        data.read_idx(path)


def test_idx_dimensions_must_be_what_the_caller_uses(tmp_path):
    images = tmp_path / "train-images-idx3-ubyte"
    data.write_idx(images, np.zeros(4, np.uint8))  # 1 dimension where images need 3
    data.write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(InputError, match="declares 1 dimensions, expected 3"):
        data.read_idx(images, ndim=3)
    with pytest.raises(InputError, match="expected 3"):
        data.load_idx_split(tmp_path, train=True)


@pytest.mark.parametrize("ndim", [16, 255])
def test_idx_huge_sizes_give_a_short_message(tmp_path, ndim):
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 8, ndim]) + b"\xff" * (4 * ndim))
    with pytest.raises(InputError) as info:
        data.read_idx(path)
    assert len(str(info.value)) < 250 and "\n" not in str(info.value)


def test_gzip_idx_declaring_more_than_the_cap_is_refused_unread(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", (1 << 30) + 1) + bytes(8)))
    with pytest.raises(InputError, match=r"declares 1073741825 bytes of data, more than the 1,073,741,824"):
        data.read_idx(path)


def test_gzip_idx_is_held_once_in_memory(tmp_path):
    size = 32 << 20
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", size) + bytes(size), mtime=0))
    tracemalloc.start()
    try:
        array = data.read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert array.shape == (size,) and not array.any()
    assert peak < 1.7 * size  # before: the chunks, their join and a copy (3×)
