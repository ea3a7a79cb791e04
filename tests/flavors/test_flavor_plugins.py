"""The flavor plugins as the host sees them: listed without heavy imports, built by name."""

from __future__ import annotations

import subprocess
import sys

from modelyard.artifacts.flavor import Flavor, build_flavor
from modelyard.plugins.specs import FlavorSpec, resolve
from modelyard_plugins.flavors.onnx import OnnxFlavor
from modelyard_plugins.flavors.python import PythonFlavor
from modelyard_plugins.flavors.sklearn import SklearnFlavor


def test_each_flavor_is_built_by_name_with_its_suffix_and_handles(host, classifier) -> None:
    expected = {
        "sklearn": (SklearnFlavor, ".skops"),
        "python": (PythonFlavor, ".py"),
        "onnx": (OnnxFlavor, ".onnx"),
    }
    for name, (cls, suffix) in expected.items():
        spec = host.spec("flavor", name)
        assert isinstance(spec, FlavorSpec) and suffix in spec.suffixes
        flavor = build_flavor(host, name)
        assert isinstance(flavor, cls) and isinstance(flavor, Flavor) and flavor.name == name
    assert resolve(host.spec("flavor", "sklearn").handles)(classifier)
    assert resolve(host.spec("flavor", "onnx").handles)(classifier)
    assert not resolve(host.spec("flavor", "sklearn").handles)(object())


def test_listing_the_flavors_imports_no_runtime() -> None:
    script = (
        "import sys\n"
        "from modelyard.plugins.manager import PluginHost\n"
        "host = PluginHost.from_entry_points(autoload=False)\n"
        "assert set(host.flavors()) >= {'sklearn', 'python', 'onnx'}, host.flavors()\n"
        "import modelyard.artifacts.flavor, modelyard.artifacts.store\n"
        "heavy = [m for m in ('sklearn', 'skops', 'onnxruntime', 'skl2onnx', 'pandas', 'fsspec') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
