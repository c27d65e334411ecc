"""HTML -> readable text with BeautifulSoup's built-in parser (nothing is fetched or run)."""

from __future__ import annotations

import re

_BLANK_RUNS = re.compile(r"\n\s*\n+")
_SPACE_RUNS = re.compile(r"[ \t\u00a0]+")


def html_to_text(html: str) -> str:
    """Visible text of an HTML document; table rows become ``a | b | c`` lines."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "noscript", "template", "iframe", "object"]):
        tag.decompose()
    for table in soup.find_all("table"):
        rows = []
        for tr in table.find_all("tr"):
            cells = [_SPACE_RUNS.sub(" ", c.get_text(" ", strip=True)) for c in tr.find_all(["td", "th"])]
            if any(cells):
                rows.append("| " + " | ".join(cells) + " |")
        table.replace_with("\n" + "\n".join(rows) + "\n")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    text = soup.get_text("\n")
    lines = [_SPACE_RUNS.sub(" ", line).strip() for line in text.splitlines()]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
