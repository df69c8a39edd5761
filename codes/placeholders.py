"""The placeholder language staff write guest texts in: ``Hello {guest_name},`` with ``{{`` and
``}}`` for a literal brace. Nothing else: no logic, no attribute access, no filters.

Deliberately not Django's template language (nor ``str.format``): a text staff type must not be
able to reach objects, settings or the database, and a mistake must come back as words a
manager can act on, with the line and column, instead of an email that breaks when it is sent.
Values are put in only after the text is parsed, so a value is never read as the language: a
guest called ``{doors}`` or ``<b>`` is shown as exactly that.
"""

import difflib
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

# A placeholder's name as staff may type it; anything else between braces is unknown.
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# A paragraph ends at a blank line (spaces and tabs on it allowed).
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# How much of a mistyped name an error message repeats.
_SHOWN = 40


class TemplateError(ValueError):
    """A mistake in a text, in words for the person who wrote it; ``line`` and ``column``
    (counted from 1) point at it, or are None when the mistake is the text as a whole (a
    placeholder it must contain)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Placeholder:
    name: str
    line: int
    column: int


@dataclass(frozen=True)
class Template:
    """A parsed text: literal strings and placeholders, in order."""

    parts: tuple[str | Placeholder, ...]

    @property
    def names(self) -> set[str]:
        return {part.name for part in self.parts if isinstance(part, Placeholder)}


@dataclass(frozen=True)
class Value:
    """What a placeholder gives: its plain text, and optionally its own HTML (a link, the doors
    with their styled PINs), which is then trusted as it is. ``block`` HTML is a block of its
    own (headings, paragraphs): it is set between the text's paragraphs, never inside one."""

    text: str
    html: SafeString | None = None
    block: bool = False


def normalise(text: str) -> str:
    """Browsers send ``\\r\\n``: one kind of line end, so lines and columns count right."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _shown(name: str) -> str:
    return name if len(name) <= _SHOWN else name[: _SHOWN - 1] + "…"


def _unknown(name: str, line: int, column: int, allowed: Collection[str], refused: Mapping[str, str]) -> TemplateError:
    where = {"line": line, "column": column}
    if name in refused:
        return TemplateError(
            gettext("{%(name)s} on line %(line)s, column %(column)s cannot be used here: %(reason)s")
            % {"name": name, "reason": refused[name], **where},
            **where,
        )
    guess = re.sub(r"[\s-]+", "_", name.strip().lower())
    matches = [guess] if guess in allowed else difflib.get_close_matches(guess, sorted(allowed), n=1, cutoff=0.6)
    if matches:
        message = gettext(
            "Unknown placeholder {%(name)s} on line %(line)s, column %(column)s – did you mean {%(suggestion)s}?"
        ) % {"name": _shown(name), "suggestion": matches[0], **where}
    else:
        message = gettext(
            "Unknown placeholder {%(name)s} on line %(line)s, column %(column)s – use one of the placeholders "
            "listed, or write {{ and }} for braces."
        ) % {"name": _shown(name), **where}
    return TemplateError(message, **where)


def _scan(
    text: str, allowed: Collection[str], refused: Mapping[str, str]
) -> Iterator[str | Placeholder | TemplateError]:
    """The text's literal pieces, placeholders and mistakes, in order. After a mistake the scan
    goes on (the brace read as a literal), so every mistake can be shown at once."""
    index, literal = 0, []
    while index < len(text):
        pair = text[index : index + 2]
        char = text[index]
        if pair in ("{{", "}}"):
            literal.append(char)
            index += 2
            continue
        if char not in "{}":
            literal.append(char)
            index += 1
            continue
        line, column = _position(text, index)
        where = {"line": line, "column": column}
        if char == "}":
            yield TemplateError(
                gettext("A } on line %(line)s, column %(column)s closes no placeholder – write }} for a brace.")
                % where,
                **where,
            )
            literal.append(char)
            index += 1
            continue
        end = index + 1
        while end < len(text) and text[end] not in "{}\n":
            end += 1
        if end == len(text) or text[end] != "}":
            yield TemplateError(
                gettext("A { on line %(line)s, column %(column)s is never closed – write {{ for a brace.") % where,
                **where,
            )
            literal.append(char)
            index += 1
            continue
        name = text[index + 1 : end].strip()
        index = end + 1
        if not name:
            yield TemplateError(
                gettext(
                    "An empty {} on line %(line)s, column %(column)s – put a placeholder's name between the "
                    "braces, or write {{}} for braces."
                )
                % where,
                **where,
            )
            continue
        if name not in allowed or not _NAME.fullmatch(name):
            yield _unknown(name, line, column, allowed, refused)
            continue
        if literal:
            yield "".join(literal)
            literal = []
        yield Placeholder(name, line, column)
    if literal:
        yield "".join(literal)


def check(text: str, *, allowed: Collection[str], refused: Mapping[str, str] | None = None) -> list[TemplateError]:
    """Every mistake in ``text``, first first; [] when it parses. ``refused`` names placeholders
    that exist but not in this text, each with the reason shown to the writer."""
    return [item for item in _scan(normalise(text), allowed, refused or {}) if isinstance(item, TemplateError)]


def parse(text: str, *, allowed: Collection[str], refused: Mapping[str, str] | None = None) -> Template:
    """``text`` as a ``Template``; raises the first ``TemplateError`` (see ``check``)."""
    parts: list[str | Placeholder] = []
    for item in _scan(normalise(text), allowed, refused or {}):
        if isinstance(item, TemplateError):
            raise item
        parts.append(item)
    return Template(tuple(parts))


def _value(values: Mapping[str, Value], placeholder: Placeholder) -> Value:
    try:
        return values[placeholder.name]
    except KeyError:
        raise TemplateError(
            gettext("{%(name)s} on line %(line)s has no value here.")
            % {"name": placeholder.name, "line": placeholder.line},
            line=placeholder.line,
            column=placeholder.column,
        ) from None


def render_text(template: Template, values: Mapping[str, Value]) -> str:
    """The text with each placeholder's plain text put in; raises ``TemplateError`` for a
    placeholder without a value."""
    return "".join(part if isinstance(part, str) else _value(values, part).text for part in template.parts)


class _Paragraphs:
    """Collects HTML paragraph by paragraph: line ends become ``<br>``, blank lines new paragraphs,
    and block values stand between paragraphs."""

    def __init__(self, paragraph_attrs: str) -> None:
        self.opening = f"<p{paragraph_attrs}>"
        self.out: list[str] = []
        # The current paragraph: HTML pieces, None for a line end.
        self.lines: list[str | None] = []

    def add_text(self, text: str) -> None:
        for number, paragraph in enumerate(_PARAGRAPH_BREAK.split(text)):
            if number:
                self.close()
            for index, line in enumerate(paragraph.split("\n")):
                if index:
                    self.lines.append(None)
                if line:
                    self.lines.append(str(escape(line)))

    def add_html(self, html: str) -> None:
        self.lines.append(html)

    def add_block(self, html: str) -> None:
        self.close()
        self.out.append(html)

    def close(self) -> None:
        pieces = self.lines
        # Line ends and blank text at either end of a paragraph show nothing.
        while pieces and (pieces[0] is None or not pieces[0].strip()):
            pieces.pop(0)
        while pieces and (pieces[-1] is None or not pieces[-1].strip()):
            pieces.pop()
        if pieces:
            self.out.append(self.opening + "".join("<br>\n" if piece is None else piece for piece in pieces) + "</p>")
        self.lines = []

    def html(self) -> SafeString:
        self.close()
        return mark_safe("\n".join(self.out))  # noqa: S308 - every piece escaped or a value's own safe HTML


def render_html(template: Template, values: Mapping[str, Value], *, paragraph_style: str = "") -> SafeString:
    """The text as HTML paragraphs: literal text and plain values escaped, a value's own HTML as
    it is (a block one between paragraphs). ``paragraph_style`` is the paragraphs' inline style
    (emails carry their styles inline; pages under the Content-Security-Policy must not).
    Raises ``TemplateError`` for a placeholder without a value."""
    attrs = f' style="{escape(paragraph_style)}"' if paragraph_style else ""
    paragraphs = _Paragraphs(attrs)
    for part in template.parts:
        if isinstance(part, str):
            paragraphs.add_text(part)
            continue
        value = _value(values, part)
        if value.html is None:
            paragraphs.add_text(value.text)
        elif value.block:
            paragraphs.add_block(value.html)
        else:
            paragraphs.add_html(value.html)
    return paragraphs.html()
