"""Every code example in README.md and docs/ runs, the doctests pass, the site builds.

* Each page is one test. Its ```python blocks run in order in one namespace, so a
  later block uses the names of an earlier one. A block inside a material content
  tab (``=== "PyTorch"``) runs in the namespace of that tab's label on that page,
  which starts as a copy of the page's namespace: the chapter page follows each
  framework through the listings side by side, and each tab is its own thread of
  code, as a reader would type it.
* A ```python block followed (blank lines apart) by an ```output block must print
  exactly that text.
* Warnings are errors (the project's pytest setting), except in the tabs that hold
  the book's own framework code (``NATIVE_TABS``): Keras 3 warns on one of the
  book's listings, and that is the book's code, not polymod's.
* A block whose first line is ``# skip-test`` is not run; keep it for code that
  truly cannot run here (e.g. it needs two processes). A block that only includes a
  file (``--8<-- "docs/examples/ddp_train.py"``) is not run either: that file has its
  own test (tests/test_examples.py).
* Lines of code blocks fit the page at 1280 px: at most ``CODE_WIDTH`` characters.
  ```output blocks wrap on the page, so they may be longer. Nested lists are indented
  by four spaces (Python-Markdown merges a two-space sub-list into the line above).
* The doctests of polymod's public modules run (``python -m doctest`` style).
* ``mkdocs build --strict`` builds the site into a temporary folder, and every public
  name (docs/_ext/autolink.py's ``public_api``) has its entry in the reference.

tests/test_docs_browser.py loads the built site in a real browser.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import importlib.util
import io
import os
import pkgutil
import re
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

import polymod
import polymod as pm
from polymod import registry

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted(
    page for page in (ROOT / "docs").rglob("*.md")
    if not any(part.startswith("_") or part == "assets"
               for part in page.relative_to(ROOT / "docs").parts))]
CODE_WIDTH = 88  # characters of a code line that fit beside both sidebars at 1280 px
# Every module of the package, found rather than listed, so a new one is not forgotten.
PUBLIC_MODULES = ["polymod"] + sorted(
    info.name for info in pkgutil.walk_packages(polymod.__path__, "polymod.")
    if info.name not in ("polymod.__main__",))

NATIVE_TABS = {"PyTorch", "MXNet Gluon", "Keras"}
MISSING = [name for name in registry.NAMES if not registry.is_installed(name)]
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})\s*(?P<info>[^`]*)$")
_TAB = re.compile(r'^(?P<indent>[ \t]*)===\+?\s+"(?P<label>[^"]*)"')


@dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    tab: str | None  # label of the enclosing content tab, if any
    output: str | None = None  # expected stdout (from a following ```output block)
    info: str = ""  # the whole info string of the fence, e.g. "{.output .wide}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def extract_blocks(text: str, languages: tuple[str, ...] | None = ("python",)) -> list[Block]:
    """The fenced code blocks of a Markdown page (of ``languages``, or all if None),
    with their content-tab label."""
    lines = text.splitlines()
    blocks: list[Block] = []
    tabs: list[tuple[int, str]] = []  # (indent of the === line, label), innermost last
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip():
            while tabs and _indent(line) <= tabs[-1][0] and not _TAB.match(line):
                tabs.pop()
            tab = _TAB.match(line)
            if tab:
                level = len(tab["indent"])
                while tabs and tabs[-1][0] >= level:
                    tabs.pop()
                tabs.append((level, tab["label"]))
        fence = _FENCE.match(line)
        if fence and fence["info"].strip():
            indent, ticks = fence["indent"], fence["ticks"]
            lang = fence["info"].strip().split()[0].strip("{.").lower()
            body, j = [], i + 1
            while j < len(lines) and not (lines[j].strip() == ticks
                                          and lines[j].startswith(indent)):
                body.append(lines[j][len(indent):] if lines[j].startswith(indent)
                            else lines[j].lstrip())
                j += 1
            blocks.append(Block(lang, textwrap.dedent("\n".join(body)) + "\n", i + 1,
                                tabs[-1][1] if tabs else None, info=fence["info"].strip()))
            i = j + 1
            continue
        i += 1
    for before, after in zip(blocks, blocks[1:], strict=False):
        if before.lang == "python" and after.lang == "output":
            between = lines[before.line:after.line - 1]
            closing = [n for n, s in enumerate(between) if s.strip().startswith("```")]
            if closing and not any(s.strip() for s in between[closing[-1] + 1:]):
                before.output = after.code
    return [b for b in blocks if languages is None or b.lang in languages]


def _only_includes(code: str) -> bool:
    lines = [line.strip() for line in code.splitlines() if line.strip()]
    return bool(lines) and all(line.startswith("--8<--") for line in lines)


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _lines_match(got: list[str], want: list[str]) -> bool:
    """Output compared as doctest's ELLIPSIS does: ``...`` matches anything, across lines
    too (for what depends on the machine, e.g. a tolerance measured from rounding noise)."""
    if got == want:
        return True
    pattern = ".*".join(map(re.escape, "\n".join(want).split("...")))
    return "..." in "\n".join(want) and re.fullmatch(pattern, "\n".join(got), re.S) is not None


def _missing_framework(err: BaseException) -> str:
    """Why a block failed if it is a framework that is not installed (CI's NumPy 2
    environment has no MXNet): the error's message; '' for any other failure."""
    frameworks = {m for name in registry.NAMES for m in registry.spec(name).requires}
    if isinstance(err, pm.BackendUnavailableError):
        return str(err)
    if isinstance(err, ModuleNotFoundError) and (err.name or "").partition(".")[0] in frameworks:
        return f"{err} (not installed here)"
    return ""


@pytest.mark.parametrize("page", [p for p in PAGES if p.exists()], ids=_page_id)
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = extract_blocks(page.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespaces: dict[str | None, dict] = {}
    missing_tabs: set[str] = set()  # tabs whose framework is not installed here
    for block in blocks:
        if block.code.lstrip().startswith("# skip-test") or _only_includes(block.code) \
                or block.tab in missing_tabs:
            continue
        page_namespace = namespaces.setdefault(None, {"__name__": f"docs_{page.stem}"})
        if block.tab not in namespaces:  # a tab carries on from the page's blocks so far
            namespaces[block.tab] = dict(page_namespace)
        namespace = namespaces[block.tab]
        where = f"{_page_id(page)}:{block.line}" + (f" [{block.tab}]" if block.tab else "")
        code = compile("\n" * block.line + block.code, f"{where}", "exec")
        stdout = io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout), warnings.catch_warnings():
                if block.tab in NATIVE_TABS:
                    warnings.simplefilter("ignore")
                exec(code, namespace)
        except Exception as err:
            missing = _missing_framework(err)
            if missing and block.tab is not None:  # the other tabs of the page still run
                missing_tabs.add(block.tab)
                continue
            if missing:
                pytest.skip(f"{where} and the rest of the page: {missing}")
            raise AssertionError(f"The code block at {where} failed:\n{block.code}") from err
        if block.output is not None:
            got = [s.rstrip() for s in stdout.getvalue().strip("\n").splitlines()]
            want = [s.rstrip() for s in block.output.strip("\n").splitlines()]
            # lines about a backend that is not installed here (gluon, on NumPy 2) are
            # not compared: the pages show the output of the full install
            got, want = ([s for s in lines if s.split()[:1] not in ([m] for m in MISSING)]
                         for lines in (got, want))
            assert _lines_match(got, want), (
                f"The code block at {where} printed:\n" + "\n".join(got)
                + "\nbut its output block says:\n" + "\n".join(want))
        else:
            sys.stdout.write(stdout.getvalue())


def test_extract_blocks_follows_tabs_and_outputs() -> None:
    page = textwrap.dedent('''\
        ```python
        a = 1
        ```

        === "PyTorch"

            ```python
            b = 2
            ```

        === "Keras"

            ```python
            print("hi")
            ```

            ```{.output .wide}
            hi
            ```

        ```bash
        polymod info
        ```

        ```python
        c = 3
        ```
        ''')
    blocks = extract_blocks(page)
    assert [(b.code.strip(), b.tab) for b in blocks] == [
        ("a = 1", None), ("b = 2", "PyTorch"), ('print("hi")', "Keras"), ("c = 3", None)]
    assert blocks[2].output == "hi\n"
    assert [b.info for b in extract_blocks(page, languages=("output",))] == ["{.output .wide}"]


def _site_pages() -> list[Path]:
    return [page for page in PAGES if page != ROOT / "README.md"]


@pytest.mark.parametrize("page", _site_pages(), ids=_page_id)
def test_code_lines_fit_the_page(page: Path) -> None:
    too_long = [
        f"{_page_id(page)}:{block.line + n}: {len(line)} characters: {line.strip()[:60]}..."
        for block in extract_blocks(page.read_text(encoding="utf-8"), languages=None)
        if (block.lang != "output" or ".wide" in block.info) and not _only_includes(block.code)
        for n, line in enumerate(block.code.splitlines(), start=1) if len(line) > CODE_WIDTH]
    assert not too_long, (
        f"Code lines longer than {CODE_WIDTH} characters scroll out of sight at 1280 px; "
        "break them (an ```output block may be longer: it wraps; a ```{.output .wide} "
        "table does not):\n" + "\n".join(too_long))


_LIST_ITEM = re.compile(r"^(?P<indent> *)(?:[-*+]|\d+\.) \S")


@pytest.mark.parametrize("page", _site_pages(), ids=_page_id)
def test_nested_lists_are_indented_by_four_spaces(page: Path) -> None:
    misplaced, closing = [], None  # closing: the ticks that end the open code block
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if fence := _FENCE.match(line):
            if closing is None:
                closing = fence["ticks"]
            elif line.strip() == closing:
                closing = None
            continue
        item = _LIST_ITEM.match(line)
        if closing is None and item and len(item["indent"]) % 4:
            misplaced.append(f"{_page_id(page)}:{number}: {line.strip()}")
    assert not misplaced, ("Python-Markdown needs four spaces per list level; with fewer "
                           "the item joins the paragraph above:\n" + "\n".join(misplaced))


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name) if t.examples]
    for test in tests:
        runner.run(test, out=lambda text: None)
    failed, attempted = runner.summarize(verbose=False)
    if failed:
        report = io.StringIO()
        rerun = doctest.DocTestRunner(optionflags=runner.optionflags)
        for test in tests:
            rerun.run(test, out=report.write)
        pytest.fail(f"{failed} of {attempted} doctest examples failed in {name}:\n"
                    + report.getvalue())


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason="mkdocs is not installed: pip install 'polymod[docs]'")
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONWARNINGS="ignore", NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n" \
                                   f"{result.stderr}"
    site = tmp_path / "site"
    for page in ("index.html", "reference/index.html", "reference/nn/index.html",
                 "examples/digits/index.html", "404.html"):
        assert (site / page).exists(), page
    anchors = set()
    for html in site.rglob("*.html"):
        anchors.update(re.findall(r'\bid="([^"]+)"', html.read_text(encoding="utf-8")))
    missing = [name if entry == name else f"{name} (documented as {entry})"
               for name, entry in _public_api().items() if entry not in anchors]
    assert not missing, ("These public names have no entry in the reference; add each to "
                         "its page under docs/reference/ (see docs/contributing.md):\n"
                         + "\n".join(missing))


def _public_api() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("autolink", ROOT / "docs/_ext/autolink.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.public_api()


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                    reason="matplotlib is not installed: pip install 'polymod[docs]'")
def test_performance_chart_and_table_come_from_the_committed_figures(tmp_path: Path) -> None:
    figures = ROOT / "docs" / "assets" / "performance"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "plot_performance.py"),
         str(figures / "bench.json"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    svg = (tmp_path / "ratios.svg").read_text(encoding="utf-8")
    assert svg.startswith("<?xml") and "<svg" in svg
    assert (tmp_path / "table.md").read_text(encoding="utf-8") == \
        (figures / "table.md").read_text(encoding="utf-8"), (
        "docs/assets/performance/table.md is not the table of bench.json beside it: rerun "
        "python benchmarks/plot_performance.py docs/assets/performance/bench.json")
