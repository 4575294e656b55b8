import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lessdata.data import read_labels, read_table
from lessdata.errors import LessdataError

X3 = np.arange(12, dtype=np.float64).reshape(4, 3)
Y = np.array([0, 1, 1, 0])


def write_table(path, columns: dict):
    table = pa.table(columns)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)
    return path


def table_columns():
    return {
        "a": X3[:, 0],
        "b": X3[:, 1].astype(np.int64),
        "name": ["w", "x", "y", "z"],
        "c": X3[:, 2],
        "label": Y,
    }


def test_npy_and_separate_label_files(tmp_path):
    np.save(tmp_path / "X.npy", X3)
    np.save(tmp_path / "y.npy", Y)
    (tmp_path / "y.txt").write_text("0\n1\n1\n0\n\n")
    (tmp_path / "y_header.csv").write_text("label\n0\n1\n1\n0\n")
    (tmp_path / "y_plain.csv").write_text("0\n1\n1\n0\n")
    write_table(tmp_path / "y.parquet", {"target": Y})
    X, y = read_table(tmp_path / "X.npy")
    assert X.dtype == np.float32 and X.shape == (4, 3) and y is None
    np.testing.assert_array_equal(X, X3)
    for name in ["y.npy", "y.txt", "y_header.csv", "y_plain.csv", "y.parquet"]:
        _, y = read_table(tmp_path / "X.npy", labels=tmp_path / name)
        assert y.tolist() == Y.tolist(), name
        _, y = read_table(str(tmp_path / "X.npy"), labels=str(tmp_path / name))
        assert y.tolist() == Y.tolist(), name


def test_text_labels_keep_their_type(tmp_path):
    (tmp_path / "names.txt").write_text("cat\ndog\n")
    (tmp_path / "floats.txt").write_text("0.5\n1\n")
    assert read_labels(tmp_path / "names.txt").tolist() == ["cat", "dog"]
    assert read_labels(tmp_path / "floats.txt").tolist() == [0.5, 1.0]


def test_images_are_flattened(tmp_path):
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    X, _ = read_table(tmp_path / "images.npy")
    assert X.shape == (5, 784) and X.dtype == np.float32


def test_npz_keys(tmp_path):
    np.savez(tmp_path / "xy.npz", X=X3, y=Y)
    np.savez(tmp_path / "named.npz", labels=Y, features=X3)
    np.savez(tmp_path / "single.npz", X3)
    np.savez(tmp_path / "other.npz", X=X3, klass=Y)
    for name in ["xy.npz", "named.npz"]:
        X, y = read_table(tmp_path / name)
        np.testing.assert_array_equal(X, X3)
        assert y.tolist() == Y.tolist()
    X, y = read_table(tmp_path / "single.npz")
    assert X.shape == (4, 3) and y is None
    assert read_table(tmp_path / "other.npz", labels="klass")[1].tolist() == Y.tolist()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_tables(tmp_path, suffix):
    path = write_table(tmp_path / f"t{suffix}", table_columns())
    X, y = read_table(path, labels="label")
    np.testing.assert_array_equal(X, X3)  # numeric columns except the labels; "name" is skipped
    assert y.tolist() == Y.tolist()
    X, y = read_table(path, features=["c", "a"])
    np.testing.assert_array_equal(X, X3[:, [2, 0]])
    assert y is None
    X, _ = read_table(path, features="b, c", labels="name")
    np.testing.assert_array_equal(X, X3[:, 1:])
    assert read_table(path, features="a", labels="name")[1].tolist() == ["w", "x", "y", "z"]
    X, _ = read_table(path)
    assert X.shape == (4, 4)  # no labels named: every numeric column, the label column included


def one_line_error(call, match):
    with pytest.raises(LessdataError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_file_errors(tmp_path):
    one_line_error(lambda: read_table(tmp_path / "missing.npy"), "input file not found")
    (tmp_path / "data.json").write_text("{}")
    one_line_error(lambda: read_table(tmp_path / "data.json"), "unknown file type '.json'")
    for name in ["bad.npy", "bad.npz", "bad.parquet"]:
        (tmp_path / name).write_bytes(b"\x93NUMPY garbage \x00\x01" * 3)
        one_line_error(lambda name=name: read_table(tmp_path / name), f"could not read .*{name}")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n")
    one_line_error(lambda: read_table(tmp_path / "ragged.csv"), "could not read .*ragged.csv")
    (tmp_path / "empty.csv").write_text("")
    one_line_error(lambda: read_table(tmp_path / "empty.csv"), "could not read .*empty.csv")
    np.save(tmp_path / "objects.npy", np.array([{}, 1], dtype=object))
    one_line_error(lambda: read_table(tmp_path / "objects.npy"), "could not read .*objects.npy")
    np.save(tmp_path / "vector.npy", np.arange(3.0))
    one_line_error(lambda: read_table(tmp_path / "vector.npy"), "must be a 2-D array")
    np.save(tmp_path / "nan.npy", np.array([[1.0], [np.nan]]))
    one_line_error(lambda: read_table(tmp_path / "nan.npy"), "NaN")


def test_column_and_label_errors(tmp_path):
    path = write_table(tmp_path / "t.parquet", table_columns())
    one_line_error(lambda: read_table(path, features=["a", "zz"]), "no column 'zz'; columns are: a, b")
    one_line_error(lambda: read_table(path, labels="klass"), "no column 'klass'")
    one_line_error(lambda: read_table(path, features=["a", "name"]), "feature column 'name' .* not numeric")
    one_line_error(lambda: read_table(path, features=["a", "label"], labels="label"), "both the labels")
    one_line_error(lambda: read_table(path, features=["a", "a"]), "twice")
    one_line_error(lambda: read_table(path, features=""), "non-empty")
    nulls = write_table(tmp_path / "nulls.parquet", {"a": [1.0, None], "y": [0, None]})
    one_line_error(lambda: read_table(nulls, features=["a"]), "'a' .* 1 missing values")
    one_line_error(lambda: read_table(nulls, features=["y"], labels="y"), "labels column 'y' .* missing")
    strings = write_table(tmp_path / "strings.csv", {"s": ["a", "b"]})
    one_line_error(lambda: read_table(strings), "no numeric feature columns")

    np.save(tmp_path / "X.npy", X3)
    np.save(tmp_path / "short.npy", Y[:3])
    one_line_error(
        lambda: read_table(tmp_path / "X.npy", labels=tmp_path / "short.npy"),
        "labels in short.npy has length 3 but there are 4 points",
    )
    one_line_error(lambda: read_table(path, labels=tmp_path / "short.npy"), "length 3 but there are 4")
    one_line_error(lambda: read_table(tmp_path / "X.npy", labels="label"), "has no named columns")
    one_line_error(lambda: read_table(tmp_path / "X.npy", features=["a"]), "has no column names")
    one_line_error(lambda: read_table(tmp_path / "X.npy", labels="nope.txt"), "labels file not found")
    np.savez(tmp_path / "xy.npz", X=X3, y=Y)
    one_line_error(lambda: read_table(tmp_path / "xy.npz", labels="klass"), "no array 'klass'")
    (tmp_path / "empty.txt").write_text("\n")
    one_line_error(lambda: read_table(tmp_path / "X.npy", labels=tmp_path / "empty.txt"), "is empty")
    (tmp_path / "gap.txt").write_text("1\n\n2\n")
    one_line_error(lambda: read_labels(tmp_path / "gap.txt"), "empty line")
    two = write_table(tmp_path / "two.csv", {"p": [1, 2], "q": [3, 4]})
    one_line_error(lambda: read_labels(two), "needs one column")
    np.save(tmp_path / "matrix.npy", X3)
    one_line_error(lambda: read_labels(tmp_path / "matrix.npy"), "one value per row")
    one_line_error(lambda: read_labels(tmp_path / "y.json"), "unknown file type")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    X=arrays(
        np.float32,
        st.tuples(st.integers(1, 8), st.integers(1, 4)),
        elements=st.floats(-1e6, 1e6, allow_nan=False, width=32),
    ),
    suffix=st.sampled_from([".npy", ".npz", ".parquet", ".csv"]),
)
def test_every_format_round_trips(tmp_path, X, suffix):
    path = tmp_path / f"data{suffix}"
    y = np.arange(len(X))
    if suffix == ".npy":
        np.save(path, X)
    elif suffix == ".npz":
        np.savez(path, X=X, y=y)
    else:
        write_table(path, {**{f"f{j}": X[:, j] for j in range(X.shape[1])}, "y": y})
    got, labels = read_table(path, labels=None if suffix in (".npy", ".npz") else "y")
    np.testing.assert_array_equal(got, X)
    if suffix != ".npy":
        assert labels.tolist() == y.tolist()
