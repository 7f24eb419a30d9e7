#!/usr/bin/python3
"""The README and docs/ as a newcomer meets them:
  - the README is short: at most 200 lines, a status table whose cells are a line or two
    (at most 40 words; its cells once held 250-word paragraphs), each row linking its detail;
  - every relative link of the README and of docs/*.md points at a file that exists (the
    detail moved to docs/ must stay reachable).
Links to files outside the runfiles given to this test (source folders) are checked only when
they name a file this test can see; each missing one is named.
Each check is a JUnit test case (in $XML_OUTPUT_FILE, read by tests/run.sh).
"""
import os
import re
import sys

ROOT = os.getcwd()
sys.path.insert(0, os.path.join(ROOT, "tests"))
from junit_cases import Cases  # noqa: E402
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Folders whose files are not all data of this test: a link into them is checked when it
# names a file we have, and trusted otherwise.
UNSEEN = ("proto/", "services/", "search/", "engine/", "trainer/", "cli/", "common/", "tools/",
          "tests/", "third_party/", ".ci/")


def links(path):
    text = open(path).read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold no links
    return [m.group(1) for m in LINK.finditer(text)]


def broken_links(path):
    base = os.path.dirname(path)
    missing = []
    for target in links(path):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        file = target.split("#")[0]
        resolved = os.path.normpath(os.path.join(base, file))
        rel = os.path.relpath(resolved, ROOT)
        if os.path.exists(resolved):
            continue
        if rel.startswith(UNSEEN):
            continue
        missing.append(f"{os.path.relpath(path, ROOT)}: {target}")
    return missing


def readme_is_short():
    lines = open(os.path.join(ROOT, "README.md")).read().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; the detail belongs in docs/"
    start = lines.index("## Status")
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("|") and not line.startswith("| ---"):
            rows.append(line)
    assert len(rows) >= 8, rows
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for cell in cells:
            words = len(cell.split())
            assert words <= 40, f"a status cell of {words} words: {cell[:80]}..."
        assert "](docs/" in row or cells[-1] == "", f"no link to the detail: {row[:80]}"


def main():
    cases = Cases("docs_test")
    check = cases.check

    check("the README is short: its status cells a line or two, each linking its detail",
          readme_is_short)

    def every_link_resolves():
        docs = [os.path.join(ROOT, "README.md")] + sorted(
            os.path.join(ROOT, "docs", n) for n in os.listdir(os.path.join(ROOT, "docs"))
            if n.endswith(".md"))
        assert len(docs) >= 10, docs
        missing = [m for d in docs for m in broken_links(d)]
        assert not missing, "broken links:\n" + "\n".join(missing)
    check("every relative link of the README and docs/ resolves", every_link_resolves)

    return cases.finish()


if __name__ == "__main__":
    sys.exit(main())
