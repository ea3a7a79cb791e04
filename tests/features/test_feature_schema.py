"""Feature schemas: fingerprints and the one dtype mapping shared by training and serving."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelyard.features.schema import FeatureSchema, conform_column, pandas_dtype


def test_fingerprint_depends_on_names_types_and_order_only():
    a = FeatureSchema((("conv_rate", "DOUBLE"), ("vehicle_type", "STRING")))
    assert a.fingerprint == FeatureSchema((("conv_rate", "DOUBLE"), ("vehicle_type", "STRING"))).fingerprint
    assert len(a.fingerprint) == 64
    assert a.fingerprint != FeatureSchema((("vehicle_type", "STRING"), ("conv_rate", "DOUBLE"))).fingerprint
    assert a.fingerprint != FeatureSchema((("conv_rate", "FLOAT"), ("vehicle_type", "STRING"))).fingerprint
    assert a.fingerprint != FeatureSchema((("conv_rate2", "DOUBLE"), ("vehicle_type", "STRING"))).fingerprint
    assert FeatureSchema.from_dict(a.to_dict()) == a


def test_every_kind_of_missing_becomes_the_dtypes_own():
    ints = conform_column(pd.Series([1, None, 2**60], dtype=object), "INT64")
    assert str(ints.dtype) == "Int64" and ints[2] == 2**60 and ints.isna().tolist() == [False, True, False]
    floats = conform_column(pd.Series([0.1, None], dtype=object), "DOUBLE")
    assert floats.dtype == np.float64 and floats[0] == 0.1 and np.isnan(floats[1])
    strings = conform_column(pd.Series(["a", np.nan, None]), "STRING")
    assert strings.dtype == object and strings.tolist() == ["a", None, None]
    assert pandas_dtype("FLOAT") == "float32" and pandas_dtype("BYTES") == "object"
