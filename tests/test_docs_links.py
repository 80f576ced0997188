"""The README and docs/ hold together: every relative link in README.md and docs/*.md names a file of the
repository, and a link to a heading (file.md#heading) names a heading of that file (GitHub's anchors)."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def headings(path: Path) -> set[str]:
    body = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", body, re.M)}


def links() -> list[tuple[str, str]]:
    out = []
    for page in PAGES:
        body = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for m in _LINK.finditer(body):
            target = m.group(1) or m.group(2)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            out.append((str(page.relative_to(ROOT)), target))
    return out


def test_the_readme_is_a_short_guide():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert "bash run.sh app" in text and "bash run.sh test" in text
    assert any(t.startswith("docs/") for _, t in links() if _ == "README.md")


@pytest.mark.parametrize("page, target", links())
def test_every_relative_link_resolves(page, target):
    path, _, frag = target.partition("#")
    base = ROOT / page
    dest = (base.parent / unquote(path)).resolve() if path else base
    rel = dest.relative_to(ROOT).as_posix() if dest.is_relative_to(ROOT) else str(dest)
    assert dest.exists(), f"{page}: link to {target} names no file"
    if frag and dest.suffix == ".md":
        assert frag in headings(dest), f"{page}: {target}: no heading with anchor #{frag} in {rel}"


def test_the_anchor_rule_matches_github():
    assert anchor("Deploying a team demo") == "deploying-a-team-demo"
    assert anchor("Conventions (each is also stated in the results and the app)") == \
        "conventions-each-is-also-stated-in-the-results-and-the-app"
