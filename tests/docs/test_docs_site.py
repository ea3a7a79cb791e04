"""The built documentation site shows its diagrams as SVG and loads nothing from another host."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# tools/docs_diagrams.py: the MkDocs hook and `make diagrams` (a script, not a package)
_spec = importlib.util.spec_from_file_location("docs_diagrams", ROOT / "tools" / "docs_diagrams.py")
assert _spec is not None and _spec.loader is not None
docs_diagrams = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_diagrams)

#: tags and CSS that make a browser fetch something: script, stylesheet, image, frame, font
_FETCHED = re.compile(
    r"""<(?:script|img|iframe|source)\b[^>]*\bsrc=["']([^"']+)|<link\b[^>]*\bhref=["']([^"']+)|"""
    r"""@import\s+(?:url\()?["']?([^"')\s;]+)|url\(\s*["']?([^"')]+)""",
    re.I,
)


def _build(config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(config), "-d", str(out)]
    return subprocess.run(command, capture_output=True, text=True, cwd=config.parent)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    built = _build(ROOT / "mkdocs.yml", out)
    assert built.returncode == 0, built.stderr
    return out


def test_every_mermaid_diagram_is_an_inline_svg(site: Path) -> None:
    blocks = docs_diagrams.blocks()
    assert len(blocks) >= 4  # architecture, serving, rollout, monitoring
    for key, (page, _) in blocks.items():
        html = (site / page.stem / "index.html").read_text()
        assert f'<svg id="diagram-{key}"' in html, page.name
    pages = list(site.rglob("*.html"))
    assert not [p for p in pages if "language-mermaid" in p.read_text()]  # no diagram left as code
    # every committed SVG belongs to a diagram of the docs (make diagrams removes the others)
    assert {p.stem for p in docs_diagrams.DIAGRAMS.glob("*.svg")} == set(blocks)


def test_the_site_loads_nothing_from_another_host(site: Path) -> None:
    fetched: dict[str, set[str]] = {}
    for path in [*site.rglob("*.html"), *site.rglob("*.css")]:
        for groups in _FETCHED.findall(path.read_text(errors="replace")):
            url = next(g for g in groups if g)
            if url.startswith("data:"):
                continue
            fetched.setdefault(url, set()).add(str(path.relative_to(site)))
    assert fetched, "no assets found: the pattern is wrong"
    remote = {url: where for url, where in fetched.items() if re.match(r"(?:[a-z]+:)?//", url, re.I)}
    assert not remote, remote
    text = "\n".join(p.read_text(errors="replace") for p in [*site.rglob("*.html"), *site.rglob("*.js")])
    assert not re.search(r"cdn\.jsdelivr|cdnjs\.cloudflare|unpkg\.com|fonts\.googleapis", text)


def test_a_diagram_without_its_svg_fails_the_build_naming_the_fix(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    page = docs / "architecture.md"
    page.write_text(page.read_text().replace("```mermaid\n", "```mermaid\n%% changed, not rendered\n", 1))
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        (ROOT / "mkdocs.yml")
        .read_text()
        .replace("  - tools/docs_diagrams.py", f"  - {ROOT / 'tools' / 'docs_diagrams.py'}")
    )
    built = _build(config, tmp_path / "site")
    assert built.returncode != 0
    assert "architecture.md" in built.stderr and "make diagrams" in built.stderr, built.stderr
