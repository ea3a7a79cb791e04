"""Materialization's Arrow-to-numpy reads equal pyarrow's ``to_numpy`` and leave pandas unimported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from modelyard.features.materialize.select import numpy_values

COLUMNS = {
    "int64": pa.array(np.arange(-50, 50), pa.int64()),
    "int32": pa.array(np.arange(100), pa.int32()),
    "uint8": pa.array(np.arange(100) % 250, pa.uint8()),
    "float32": pa.array(np.linspace(-1, 1, 100), pa.float32()),
    "float64": pa.array(np.linspace(-1, 1, 100), pa.float64()),
    "bool": pa.array(np.arange(100) % 3 == 0),
    "with nulls": pa.array([1.0, None, 3.0] * 30, pa.float64()),
}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_numpy_values_equal_to_numpy_whole_sliced_chunked_and_empty(name: str) -> None:
    column = COLUMNS[name]
    for array in (
        column,
        column.slice(3, 60),
        column.slice(7, 0),
        pa.chunked_array([column[:10], column[10:]]),
    ):
        ours = numpy_values(array)
        whole = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
        theirs = whole.to_numpy(zero_copy_only=False)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)


def test_numpy_values_do_not_import_pandas() -> None:
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import pyarrow as pa
        from modelyard.features.materialize.select import numpy_values
        # built from buffers, as DuckDB hands them over (pa.array of Python values imports pandas itself)
        ints = pa.Array.from_buffers(pa.int64(), 10, [None, pa.py_buffer(np.arange(10).tobytes())])
        bools = pa.Array.from_buffers(pa.bool_(), 10, [None, pa.py_buffer(np.packbits(np.arange(10) % 2 == 0, bitorder="little").tobytes())])
        assert numpy_values(ints).tolist() == list(range(10))
        assert numpy_values(bools).tolist() == [i % 2 == 0 for i in range(10)]
        print("pandas" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
