"""The README's Hopfield snippet (retrieval from a `HopfieldLayer.associative_memory`) runs as written."""
import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _hopfield_snippets():
    section = README.read_text(encoding="utf-8").split("## Modern Hopfield networks", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_associative_memory_snippet_prints_what_its_comment_says():
    (snippet,) = _hopfield_snippets()
    assert "HopfieldLayer.associative_memory(" in snippet
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, str(README), "exec"), {"__name__": "readme"})
    printed = out.getvalue().strip()
    promised = snippet.strip().splitlines()[-1].split("# ", 1)[1].split(":")[0]
    assert printed == promised == "True 64"
