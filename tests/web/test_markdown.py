"""Notes' Markdown: LaTeX delimiters survive untouched, code stays code, failures still show the note."""

from __future__ import annotations

import pytest

from app.services.markdown import protect_math, render_markdown
from tests.web.html import parse


@pytest.mark.parametrize(
    ("source", "tex", "display"),
    [
        (r"see $\nabla \log p_t(x)$ here", r"\nabla \log p_t(x)", False),
        (r"see \(a_1 * b_2 * c\) here", r"a_1 * b_2 * c", False),
        (r"$$\sum_{i=1}^n x_i^2$$", r"\sum_{i=1}^n x_i^2", True),
        ("\\[\n\\int_0^1 f(x)\\,dx\n\\]", r"\int_0^1 f(x)\,dx", True),
        (r"$\{x \mid x > 0\}$", r"\{x \mid x > 0\}", False),
    ],
)
def test_math_is_kept_verbatim_for_katex(source, tex, display):
    tree = parse(render_markdown(source).html)
    (span,) = tree.find_all("span", cls="math")
    assert span.text() == tex
    assert ("math-display" in span.classes) is display


def test_dollars_in_prose_and_code_are_not_math():
    html = render_markdown("It costs $5 and $6.\n\n`$x$` and\n\n```\n$$y$$\n```\n\nescaped \\$z\\$").html
    tree = parse(html)
    assert tree.find("span", cls="math") is None
    assert "$5 and $6" in tree.text() and "$$y$$" in tree.find("pre").text()


def test_markdown_features_render():
    tree = parse(render_markdown("# T\n\n**b** _i_ [l](https://e.org)\n\n```python\nprint(1)\n```\n\n> quote").html)
    assert tree.find("h1").text() == "T" and tree.find("strong").text() == "b"
    assert tree.find("pre").find("code").text() == "print(1)\n"
    assert tree.find("blockquote") is not None


def test_placeholders_cannot_be_forged():
    _, found, nonce = protect_math("$a$")
    html = render_markdown(f"lecternmath{nonce}x0x").html
    assert "math" not in parse(html).find("p").classes  # a new nonce each render
    assert len(found) == 1
