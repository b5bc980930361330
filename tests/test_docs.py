"""The README and docs/ hold together: every relative link (and its #anchor) resolves, the README stays a front
page, and its two commands are the ones .ci/run and a newcomer type."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md")),
         *sorted((ROOT / "data").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
  """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
  text = re.sub(r"[`*_]", "", heading.strip().lower())
  text = re.sub(r"[^\w\- ]", "", text)
  return text.replace(" ", "-")


def _anchors(page: pathlib.Path) -> set[str]:
  out, seen, fenced = set(), {}, False
  for line in page.read_text().split("\n"):
    if line.startswith("```"):
      fenced = not fenced
    m = re.match(r"^#{1,6} (.*)$", line)
    if m and not fenced:
      slug = _slug(m.group(1))
      n = seen.get(slug, 0)
      seen[slug] = n + 1
      out.add(slug if n == 0 else f"{slug}-{n}")
  return out


def test_every_relative_link_resolves():
  broken = []
  for page in PAGES:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # links in code blocks are not links
    for target in LINK.findall(text):
      if re.match(r"^[a-z]+://|^mailto:", target):
        continue
      path, _, anchor = target.partition("#")
      dest = (page.parent / path).resolve() if path else page
      if not dest.exists():
        broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
      elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
        broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
  assert not broken, "\n".join(broken)


def test_the_readme_is_a_front_page_with_the_two_commands():
  readme = (ROOT / "README.md").read_text()
  assert len(readme.split("\n")) <= 250
  ci = (ROOT / ".ci" / "run").read_text().strip().split("\n")[-1]
  assert f"```bash\n{ci}\n```" in readme  # the test command, verbatim
  editable = 'pip install -q -e ".[test]"'
  install = ci[:ci.index(editable) + len(editable)]  # the demo needs the project, not the real-model tier's file
  assert f"```bash\n{install} && python -m meta_rfft.pipeline --config=configs/demo.py --workdir=runs/demo\n```" in readme
