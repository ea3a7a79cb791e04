"""The docs' Mermaid diagrams as SVG, so the built site shows pictures and loads nothing from the network.

The Markdown keeps each diagram as a ```` ```mermaid ```` block (GitHub renders those); its
SVG is committed in ``docs/diagrams/<key>.svg``, where ``key`` is a hash of the block's text.

* ``python tools/docs_diagrams.py`` (``make diagrams``) renders the SVG of every block that has
  none with mermaid-cli (``mmdc``, from npm, driving a local Chromium: ``$CHROMIUM``, default
  ``/usr/bin/chromium``) and deletes SVGs no block uses any more.
* As an MkDocs hook (``hooks:`` in ``mkdocs.yml``) it puts each block's SVG into the page in
  place of the code block; a block without its SVG fails the build, naming the command to run.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DIAGRAMS = DOCS / "diagrams"
#: the mermaid-cli release the committed SVGs were drawn with
MERMAID_CLI = "@mermaid-js/mermaid-cli@11.17.0"

_FENCE = re.compile(r"^```mermaid[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_RENDERED = re.compile(r'<pre><code class="language-mermaid">(.*?)</code></pre>', re.S)


def key(source: str) -> str:
    """The file name stem of a diagram's SVG: a hash of its text (ends of lines trimmed)."""
    text = "\n".join(line.rstrip() for line in source.strip().splitlines())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def blocks(docs: Path = DOCS) -> dict[str, tuple[Path, str]]:
    """Every Mermaid block of the docs: key -> (the page it is on, its text)."""
    found = {}
    for page in sorted(docs.rglob("*.md")):
        for match in _FENCE.finditer(page.read_text()):
            found[key(match.group(1))] = (page, match.group(1))
    return found


def render(source: str, out: Path) -> None:
    """Draw ``source`` into ``out`` with mermaid-cli (the SVG's id is unique to the diagram)."""
    env = {
        **os.environ,
        "PUPPETEER_SKIP_DOWNLOAD": "1",
        "PUPPETEER_EXECUTABLE_PATH": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        given = Path(tmp) / "diagram.mmd"
        given.write_text(source)
        config = Path(tmp) / "puppeteer.json"
        config.write_text('{"args": ["--no-sandbox"]}')
        command = ["npx", "--yes", "-p", MERMAID_CLI, "mmdc", "--quiet", "-p", str(config)]
        command += ["-i", str(given), "-o", str(out), "-I", f"diagram-{out.stem}", "-b", "white"]
        subprocess.run(command, check=True, env=env)


def main() -> int:
    DIAGRAMS.mkdir(exist_ok=True)
    wanted = blocks()
    for name, (page, source) in wanted.items():
        svg = DIAGRAMS / f"{name}.svg"
        if not svg.exists():
            print(f"rendering the diagram of {page.relative_to(ROOT)} into {svg.relative_to(ROOT)}")
            render(source, svg)
    for svg in DIAGRAMS.glob("*.svg"):
        if svg.stem not in wanted:
            print(f"removing {svg.relative_to(ROOT)}: no diagram in the docs has it any more")
            svg.unlink()
    return 0


# -- the MkDocs hook ----------------------------------------------------------------------------


def on_page_content(content: str, page: Any, config: Any, files: Any) -> str:
    """Each Mermaid code block of the page replaced by its committed SVG."""
    from mkdocs.exceptions import PluginError

    def svg(match: re.Match[str]) -> str:
        source = html.unescape(match.group(1))
        path = Path(config["docs_dir"]) / "diagrams" / f"{key(source)}.svg"
        if not path.exists():
            raise PluginError(
                f"{page.file.src_path}: a Mermaid diagram has no SVG ({path.name}); run 'make diagrams'"
            )
        return f'<figure class="diagram">{path.read_text()}</figure>'

    return _RENDERED.sub(svg, content)


if __name__ == "__main__":
    sys.exit(main())
