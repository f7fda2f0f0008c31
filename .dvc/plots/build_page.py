"""Build ``.dvc/plots/page.html``: the page ``dvc plots show`` fills, with Vega inlined (offline).

DVC's own page loads vega, vega-lite and vega-embed from a CDN, so the plots it writes are
blank without a network. ``.dvc/config`` names this page instead (``plots.html_template``,
a path relative to ``.dvc/``): the three libraries sit inside it, and its ``{plot_divs}``
placeholder takes the charts. It has no ``{scripts}`` placeholder, so DVC's CDN tags are
never inserted.

The libraries come from the npm registry with the ordinary client, at the versions below:
the majors DVC's renderer targets (its templates write Vega-Lite v5 specs), each the latest
release of its major. To move a version, change it here and run (node and npm on PATH)::

    python .dvc/plots/build_page.py

or, with the three ``build/*.min.js`` files at hand (``npm pack`` tarballs, unpacked)::

    python .dvc/plots/build_page.py --from-folder FOLDER

The output is byte-deterministic for given library files. The three are BSD-3-Clause
(Copyright the University of Washington Interactive Data Lab); the page's header says so.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGE = HERE / "page.html"

# package -> (version, file inside the npm tarball); loaded in this order (embed needs both)
LIBRARIES = {
    "vega": ("5.33.1", "package/build/vega.min.js"),
    "vega-lite": ("5.23.0", "package/build/vega-lite.min.js"),
    "vega-embed": ("6.29.0", "package/build/vega-embed.min.js"),
}

# What dvc_render's HTML class replaces; the libraries must not contain any of them.
PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")

HEAD = """<!DOCTYPE html>
<!-- Written by .dvc/plots/build_page.py: edit that script, not this file. The page of
`dvc plots show` (.dvc/config plots.html_template), with {libraries} inlined so the
plots render offline. Vega, Vega-Lite and Vega-Embed: BSD-3-Clause, Copyright (c) the
University of Washington Interactive Data Lab; https://vega.github.io -->
<html lang="en">
<head>
<meta charset="utf-8">
{{refresh_tag}}
<title>Plots (dvc plots show)</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem; }}
table {{ border-spacing: 15px; }}
.vega-embed {{ max-width: 100%; }}
</style>
"""

TAIL = """</head>
<body>
<h1 style="font-size: 1.3rem">Plots</h1>
<p>Written by <code>dvc plots show</code> from the plot files dvc.yaml declares; the charts
need no network (the plotting library is inside this page).</p>
{plot_divs}
</body>
</html>
"""


def _script(name: str, version: str, text: str) -> str:
    # a source-map comment points at a file that is not here; a closing tag would end the element
    text = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", text).rstrip() + "\n"
    if re.search(r"</script", text, flags=re.IGNORECASE):
        raise ValueError(f"{name}@{version} contains a closing script tag; cannot inline it")
    found = [p for p in PLACEHOLDERS if p in text]
    if found:
        raise ValueError(f"{name}@{version} contains DVC's placeholder(s) {found}")
    return f'<script type="text/javascript">/* {name}@{version} */\n{text}</script>\n'


def page(sources: dict[str, str]) -> str:
    """The page, from each library's minified JavaScript (``{package: text}``)."""
    names = ", ".join(f"{n}@{LIBRARIES[n][0]}" for n in LIBRARIES)
    scripts = "".join(_script(n, LIBRARIES[n][0], sources[n]) for n in LIBRARIES)
    return HEAD.format(libraries=names) + scripts + TAIL


def _from_folder(folder: Path) -> dict[str, str]:
    """The libraries from unpacked tarballs: ``<folder>/<package>-<version>/package/build/...``."""
    sources = {}
    for name, (version, member) in LIBRARIES.items():
        path = folder / f"{name}-{version}" / member
        if not path.is_file():
            raise FileNotFoundError(f"{path}: unpack `npm pack {name}@{version}` there")
        sources[name] = path.read_text(encoding="utf-8")
    return sources


def _from_npm() -> dict[str, str]:
    """The libraries from the npm registry (``npm pack``), unpacked in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        specs = [f"{n}@{v}" for n, (v, _) in LIBRARIES.items()]
        subprocess.run(["npm", "pack", "--silent", *specs], cwd=tmp, check=True)
        for name, (version, member) in LIBRARIES.items():
            folder = Path(tmp) / f"{name}-{version}"
            with tarfile.open(Path(tmp) / f"{name}-{version}.tgz") as archive:
                archive.extract(member, folder, filter="data")
        return _from_folder(Path(tmp))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-folder", type=Path, help="unpacked npm tarballs (no download)")
    parser.add_argument("--output", type=Path, default=PAGE)
    args = parser.parse_args(argv)
    sources = _from_folder(args.from_folder) if args.from_folder else _from_npm()
    args.output.write_text(page(sources), encoding="utf-8", newline="\n")
    print(f"wrote {args.output} ({args.output.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
