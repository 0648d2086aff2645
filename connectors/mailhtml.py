"""HTML mail bodies as readable text, through the standard library's html.parser: no markup,
scripts or styles, a line per block, blockquotes as "> " lines (so a quoted reply in HTML is cut
like one in plain text).  Linear on any input, never raises."""

from __future__ import annotations

from html.parser import HTMLParser

_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "object"})
_LINE = frozenset({"br", "div", "li", "tr", "dt", "dd", "section", "article", "header"})
_LINE |= frozenset({"footer", "address", "center", "caption", "figcaption", "main", "nav"})
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl"})
_PARAGRAPH |= frozenset({"pre", "hr", "blockquote", "form", "fieldset", "figure"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base"})


class _TextExtractor(HTMLParser):
    """The words of an HTML body, one line per block; blockquotes as "> " lines, so a quoted
    reply reads as one in plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._line_depth = 0
        self._skip = 0
        self._quote = 0

    def _break(self, blank: bool = False, empty_line: bool = False) -> None:
        """End the current line; ``blank``: and the paragraph; ``empty_line``: even when the
        line is empty (``<br><br>``)."""
        text = " ".join("".join(self._line).split())
        if text:
            self.lines.append("> " * self._line_depth + text)
        elif empty_line:
            self.lines.append("")
        if blank and self.lines and self.lines[-1] != "":
            self.lines.append("")
        self._line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            if tag not in _VOID:
                self._skip += 1
            return
        if tag in ("td", "th"):
            self._line.append(" ")
        elif tag == "li":
            self._break()
            self._line.append("- ")
        elif tag in _PARAGRAPH:
            self._break(blank=True)
        elif tag in _LINE:
            self._break(empty_line=tag == "br")
        if tag == "blockquote":
            self._quote += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if tag in _PARAGRAPH:
            self._break(blank=True)
        elif tag in _LINE:
            self._break()
        if tag == "blockquote":
            self._quote = max(0, self._quote - 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if not self._line:
            self._line_depth = self._quote
        self._line.append(data)

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines)


_TAG_MAX = 1000  # characters from "<" to ">": a longer "tag" is text
_RAW_TEXT_MAX = 100_000  # a comment, script or style must end within this many characters
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_CLOSERS = (("<!--", "-->"), ("<script", "</script"), ("<style", "</style"))


def _defuse(html: str) -> str:
    """``html`` with every "<" that opens no complete construct written as "&lt;".

    html.parser (before Python 3.11.13) rescans to the end of the text from each "<" that opens
    a tag, comment, script or style it cannot close: 200 KB of ``<a `` took minutes.  Here each
    "<" must reach its ">" within _TAG_MAX characters with balanced quotes, and a comment,
    script or style its end within _RAW_TEXT_MAX; every search moves forward only, so the pass
    is linear, and what html.parser then reads closes everything it opens.
    """
    lower = html.translate(_ASCII_LOWER)  # same length, so positions carry over
    out: list[str] = []
    done = 0
    next_gt = -1
    ends = {closer: -1 for _, closer in _CLOSERS}
    pos = html.find("<")
    while pos >= 0:
        if next_gt < pos:
            next_gt = html.find(">", pos)
            next_gt = next_gt if next_gt >= 0 else len(html) + _TAG_MAX + 1
        tag = html[pos:next_gt] if 0 <= next_gt - pos <= _TAG_MAX else None
        ok = tag is not None and tag.count('"') % 2 == 0 and tag.count("'") % 2 == 0
        for opener, closer in _CLOSERS:
            if ok and lower.startswith(opener, pos):
                if ends[closer] < pos:  # none found is len(html): never searched again
                    found = lower.find(closer, pos + len(opener))
                    ends[closer] = found if found >= 0 else len(html) + _RAW_TEXT_MAX + 1
                ok = 0 <= ends[closer] - pos <= _RAW_TEXT_MAX
                break
        if not ok:
            out.append(html[done:pos])
            out.append("&lt;")
            done = pos + 1
        pos = html.find("<", pos + 1)
    out.append(html[done:])
    return "".join(out)


def html_to_text(html: str) -> str:
    """The readable text of an HTML body: no markup, scripts or styles; a line per block."""
    parser = _TextExtractor()
    try:
        parser.feed(_defuse(html))
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser is lenient, but keep what was read if not
        pass
    return parser.text()
