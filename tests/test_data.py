import gzip
import struct
import time

import numpy as np
import pytest

from gan_jax import data
from gan_jax.config import DataConfig
from gan_jax.data import DataError


def _digits(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def test_scaling_to_unit_range_is_exact():
    x = data.to_unit_range(np.array([[[0, 255], [127, 128]]], np.uint8))
    assert x.shape == (1, 2, 2, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, :, 0], [[-1.0, 1.0], [127 / 127.5 - 1, 128 / 127.5 - 1]], atol=1e-7)


def test_embedded_digits_split_is_stratified_disjoint_and_real():
    train = data.load(DataConfig(source="embedded"))
    test = data.load(DataConfig(source="embedded", split="test"))
    assert train.images.shape == (4000, 28, 28, 1) and test.images.shape == (1000, 28, 28, 1)
    assert np.bincount(train.labels).tolist() == [400] * 10 and np.bincount(test.labels).tolist() == [100] * 10
    assert train.images.min() == -1.0 and train.images.max() == 1.0
    assert 0.1 < (train.images > 0).mean() < 0.25  # MNIST: ~19% of pixels are ink, not noise
    flat = lambda d: {x.tobytes() for x in d.images}
    assert not flat(train) & flat(test)
    assert train.kind == "embedded"


def test_seeded_shuffling_and_limit():
    a = data.load(DataConfig(source="embedded", seed=1, limit=50))
    b = data.load(DataConfig(source="embedded", seed=1, limit=50))
    c = data.load(DataConfig(source="embedded", seed=2, limit=50))
    assert a.images.shape[0] == 50
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.labels, c.labels)
    assert len(set(a.labels.tolist())) > 5  # shuffled: the embedded file is sorted by label


def test_npz_round_trip_and_errors(tmp_path):
    x, y = _digits()
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x[:3], y_test=y[:3])
    ds = data.load(DataConfig(source="npz", path=str(path), seed=0))
    assert ds.images.shape == (12, 28, 28, 1) and ds.kind == "npz"
    order = np.random.default_rng(0).permutation(12)
    np.testing.assert_array_equal(ds.labels, y[order])
    np.testing.assert_allclose(ds.images[..., 0], x[order] / 127.5 - 1, atol=1e-7)
    assert data.load(DataConfig(source="npz", path=str(path), split="test")).images.shape[0] == 3

    with pytest.raises(DataError, match="is not a file"):
        data.load(DataConfig(source="npz", path=str(tmp_path / "missing.npz")))
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="not a readable .npz"):
        data.load(DataConfig(source="npz", path=str(corrupt)))
    np.savez(tmp_path / "other.npz", images=x)
    with pytest.raises(DataError, match="no x_train, y_train in the archive"):
        data.load(DataConfig(source="npz", path=str(tmp_path / "other.npz")))
    np.savez(tmp_path / "short.npz", x_train=x, y_train=y[:5])
    with pytest.raises(DataError, match="12 images but labels of shape"):
        data.load(DataConfig(source="npz", path=str(tmp_path / "short.npz")))


def test_npz_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x_train=np.array([object()], dtype=object), y_train=np.zeros(1))
    with pytest.raises(DataError, match="not a readable .npz"):
        data.load(DataConfig(source="npz", path=str(path)))


def _write_idx(path, array, magic_type=0x08, gz=False):
    header = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(">u1").tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    x, y = _digits()
    suffix = ".gz" if gz else ""
    _write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", x, gz=gz)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", y, gz=gz)
    np.testing.assert_array_equal(data.read_idx(tmp_path / f"train-images-idx3-ubyte{suffix}"), x)
    ds = data.load(DataConfig(source="idx", path=str(tmp_path)))
    assert ds.images.shape == (12, 28, 28, 1) and sorted(ds.labels.tolist()) == sorted(y.tolist())


def test_idx_errors(tmp_path):
    x, y = _digits()
    with pytest.raises(DataError, match="is not a folder"):
        data.load(DataConfig(source="idx", path=str(tmp_path / "nope")))
    with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
        data.load(DataConfig(source="idx", path=str(tmp_path)))
    _write_idx(tmp_path / "train-images-idx3-ubyte", x)
    truncated = (tmp_path / "train-images-idx3-ubyte").read_bytes()[:-10]
    (tmp_path / "train-images-idx3-ubyte").write_bytes(truncated)
    with pytest.raises(DataError, match=r"header says shape \(12, 28, 28\)"):
        data.read_idx(tmp_path / "train-images-idx3-ubyte")
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="bad magic number"):
        data.read_idx(tmp_path / "junk")


def test_tfds_mock_data_mnist_and_fashion_mnist():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=20):
        for name in ("mnist", "fashion_mnist"):
            ds = data.load(DataConfig(source="tfds", name=name))
            assert ds.images.shape == (20, 28, 28, 1) and ds.kind == "tfds"
            assert -1.0 <= ds.images.min() and ds.images.max() <= 1.0
            assert ds.labels.dtype == np.int32 and ds.labels.max() < 10


def test_unprepared_tfds_fails_fast_and_names_the_alternatives(tmp_path):
    start = time.perf_counter()
    with pytest.raises(DataError) as e:
        data.load(DataConfig(source="tfds", name="mnist", data_dir=str(tmp_path)))
    assert time.perf_counter() - start < 10  # not tfds's ~200 s of download retries
    assert "not prepared" in str(e.value) and "data.source=embedded" in str(e.value) and "data.source=npz" in str(e.value)
    with pytest.raises(DataError, match="tfds has no dataset 'no_such_set'"):
        data.load(DataConfig(source="tfds", name="no_such_set", data_dir=str(tmp_path)))
    assert list(tmp_path.iterdir()) == []  # nothing was downloaded or created


def test_auto_falls_back_to_embedded_and_says_so(tmp_path):
    ds = data.load(DataConfig(source="auto", data_dir=str(tmp_path)))
    assert ds.kind == "embedded" and ds.source.startswith("embedded:")
    with pytest.raises(DataError, match="'fashion_mnist' is not prepared locally"):
        data.load(DataConfig(source="auto", name="fashion_mnist", data_dir=str(tmp_path)))


def test_a_tfds_download_without_network_fails_in_seconds(tmp_path, monkeypatch):
    import socket

    from gan_jax import data as data_lib
    from gan_jax.config import DataConfig

    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", offline)
    with pytest.raises(data_lib.DataError, match="cannot reach storage.googleapis.com"):
        data_lib.load(DataConfig(source="tfds", download=True, data_dir=str(tmp_path)))


@pytest.mark.parametrize("pixels, labels, fragment", [
    ("nan_pixel", None, "1 pixel values are NaN or infinite"),
    ("all_nan", None, "784 pixel values are NaN"),  # every pixel of the first image
    ("unit_floats", None, "look like a [0, 1] scale"),
    ("signed_floats", None, "look like a [-1, 1] scale"),
    (None, "float_labels", "labels must be integers, got dtype float64"),
    (None, "string_labels", "labels must be integers, got dtype <U"),
])
def test_bad_pixels_and_labels_are_refused_naming_the_problem(tmp_path, pixels, labels, fragment):
    x, y = _digits()
    x = x.astype(np.float64)
    if pixels == "nan_pixel":
        x[3, 10, 10] = np.nan
    elif pixels == "all_nan":
        x[:] = 0.0
        x[0] = np.nan
    elif pixels == "unit_floats":
        x = x / 255.0
    elif pixels == "signed_floats":
        x = x / 127.5 - 1.0
    if labels == "float_labels":
        y = y.astype(np.float64)
    elif labels == "string_labels":
        y = y.astype(str)
    np.savez(tmp_path / "bad.npz", x_train=x, y_train=y, x_test=x[:3], y_test=y[:3])
    with pytest.raises(DataError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        data.load(DataConfig(source="npz", path=str(tmp_path / "bad.npz")))


def test_fetch_prepares_and_reads_back_both_splits_without_a_download(tmp_path, monkeypatch, capsys):
    """`gan-jax data fetch fashion_mnist` on tfds's mock data (the download host taken as reachable, the
    network itself refused): it reports both splits read back, and tells how to train on them."""
    import socket

    tfds = pytest.importorskip("tensorflow_datasets")
    from gan_jax.cli import main

    def offline(*args, **kwargs):
        raise OSError("no network in tests")

    checked = []
    monkeypatch.setattr(socket, "create_connection", offline)
    monkeypatch.setattr(data, "_check_reachable", lambda name, timeout=5.0: checked.append(name))
    with tfds.testing.mock_data(num_examples=20):
        got = data.fetch("fashion_mnist", str(tmp_path))
        assert (got["name"], got["already"], got["train"], got["test"]) == ("fashion_mnist", False, 20, 20)
        assert main(["data", "fetch", "mnist", "--data-dir", str(tmp_path)]) == 0
    assert checked[0] == "fashion_mnist" and "mnist" in checked  # the host is checked before any download
    out = capsys.readouterr().out
    assert "mnist downloaded and prepared under" in out and "20 train, 20 test images" in out
    assert "--set data.source=tfds data.name=mnist data.data_dir=" in out
