"""The placeholder language staff write guest texts in: mistakes come back with their line,
column and a way out; braces can be written; HTML is escaped; a value is never read as the
language, whatever it holds."""

import re

import pytest
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from hypothesis import given
from hypothesis import strategies as st

from codes.placeholders import Placeholder, TemplateError, Value, check, parse, render_html, render_text

NAMES = frozenset({"guest_name", "site", "unit", "doors", "link"})


def errors(text: str) -> list[tuple[int | None, int | None, str]]:
    return [(e.line, e.column, e.message) for e in check(text, allowed=NAMES)]


# Mistakes


def test_an_unknown_placeholder_names_its_line_and_column_and_suggests_the_right_one() -> None:
    text = "Hello,\n\nDear {gest_name}, welcome."

    [(line, column, message)] = errors(text)

    assert (line, column) == (3, 6)
    assert message == "Unknown placeholder {gest_name} on line 3, column 6 – did you mean {guest_name}?"
    with pytest.raises(TemplateError) as raised:
        parse(text, allowed=NAMES)
    assert isinstance(raised.value, ValueError)
    assert (raised.value.line, raised.value.column) == (3, 6)


@pytest.mark.parametrize(
    ("typed", "suggestion"), [("Guest_Name", "guest_name"), ("guest name", "guest_name"), ("sit", "site")]
)
def test_a_near_miss_is_suggested(typed: str, suggestion: str) -> None:
    [(_, _, message)] = errors(f"Hi {{{typed}}}")

    assert message.endswith(f"did you mean {{{suggestion}}}?")


def test_a_name_like_nothing_known_gets_no_wild_guess() -> None:
    [(_, _, message)] = errors("Wi-Fi password: {wifi_password_for_the_lobby}")

    assert "did you mean" not in message
    assert "Unknown placeholder {wifi_password_for_the_lobby} on line 1, column 17" in message
    assert "write {{ and }} for braces" in message


def test_a_brace_never_closed_is_pointed_at() -> None:
    assert errors("Line one\nA set { of things") == [
        (2, 7, "A { on line 2, column 7 is never closed – write {{ for a brace.")
    ]
    # A placeholder does not run across lines, nor contain another brace.
    assert [e[:2] for e in errors("{guest_name\n}")] == [(1, 1), (2, 1)]
    assert [e[:2] for e in errors("{guest {site}")] == [(1, 1)]


def test_a_closing_brace_alone_and_empty_braces_are_mistakes() -> None:
    assert errors("a } b") == [(1, 3, "A } on line 1, column 3 closes no placeholder – write }} for a brace.")]
    [(line, column, message)] = errors("x {} y")
    assert (line, column) == (1, 3)
    assert message.startswith("An empty {} on line 1, column 3")


def test_a_placeholder_refused_in_this_text_says_why() -> None:
    [error] = check("Your code: {doors}", allowed={"site"}, refused={"doors": "lock screens show subjects."})

    assert error.message == "{doors} on line 1, column 12 cannot be used here: lock screens show subjects."


def test_every_mistake_is_reported_at_once_in_order() -> None:
    found = errors("{gest_name} and {sit}\n} and {")

    assert [(line, column) for line, column, _ in found] == [(1, 1), (1, 17), (2, 1), (2, 7)]


def test_windows_line_ends_from_a_browser_count_as_one_line() -> None:
    [(line, column, _)] = errors("One\r\nTwo\r\nThree {x}")

    assert (line, column) == (3, 7)


def test_a_very_long_unknown_name_is_shortened_in_the_message() -> None:
    [(_, _, message)] = errors("{" + "a" * 500 + "}")

    assert len(message) < 200


# Braces, text and HTML


def test_double_braces_are_literal_braces_and_never_a_placeholder() -> None:
    template = parse("{{guest_name}} is {guest_name}; {{{site}}} }}{{", allowed=NAMES)

    values = {"guest_name": Value("Ana"), "site": Value("Sea")}
    assert render_text(template, values) == "{guest_name} is Ana; {Sea} }{"
    assert template.names == {"guest_name", "site"}


def test_spaces_inside_the_braces_are_forgiven() -> None:
    template = parse("Hi { guest_name }!", allowed=NAMES)

    assert template.parts == ("Hi ", Placeholder("guest_name", 1, 4), "!")


def test_html_escapes_the_text_and_plain_values_and_makes_paragraphs() -> None:
    template = parse("Dear {guest_name} & <friends>,\nwelcome.\n\n\n<script>x</script>", allowed=NAMES)

    html = render_html(template, {"guest_name": Value("O'Brien <b>")})

    assert html == (
        "<p>Dear O&#x27;Brien &lt;b&gt; &amp; &lt;friends&gt;,<br>\nwelcome.</p>\n"
        "<p>&lt;script&gt;x&lt;/script&gt;</p>"
    )


def test_a_values_own_html_is_kept_and_a_block_stands_between_paragraphs() -> None:
    template = parse("Codes:\n{doors}\nPage: {link}", allowed=NAMES)
    values = {
        "doors": Value("Room 101: 1234", html=mark_safe('<div class="doors">1234</div>'), block=True),
        "link": Value("https://x.test/a?b&c", html=format_html('<a href="{}">{}</a>', "https://x.test/a?b&c", "here")),
    }

    html = render_html(template, values, paragraph_style="margin: 0;")

    assert html == (
        '<p style="margin: 0;">Codes:</p>\n<div class="doors">1234</div>\n'
        '<p style="margin: 0;">Page: <a href="https://x.test/a?b&amp;c">here</a></p>'
    )
    assert render_text(template, values) == "Codes:\nRoom 101: 1234\nPage: https://x.test/a?b&c"


@pytest.mark.parametrize("hostile", ["{doors}", "<b>{link}</b>", "{{site}}", "}{", '"><script>alert(1)</script>'])
def test_a_value_is_never_read_as_the_language(hostile: str) -> None:
    template = parse("Hello {guest_name}!", allowed=NAMES)
    values = {
        "guest_name": Value(hostile),
        "doors": Value("SECRET-PINS", html=mark_safe("<b>SECRET-PINS</b>"), block=True),
        "link": Value("LINK", html=mark_safe("<a>LINK</a>")),
        "site": Value("SITE"),
    }

    text, html = render_text(template, values), render_html(template, values)

    assert text == f"Hello {hostile}!"
    assert "SECRET-PINS" not in html + text
    assert "LINK" not in html + text
    assert "SITE" not in html + text
    assert "<script>" not in html
    assert "<b>" not in html


def test_a_placeholder_without_a_value_is_an_error_not_an_empty_gap() -> None:
    template = parse("Hi {guest_name}, see {link}", allowed=NAMES)

    with pytest.raises(TemplateError, match=r"\{link\} on line 1 has no value here"):
        render_text(template, {"guest_name": Value("Ana")})
    with pytest.raises(TemplateError):
        render_html(template, {"guest_name": Value("Ana")})


@given(st.text())
def test_any_text_written_with_doubled_braces_comes_back_as_typed_and_escaped(text: str) -> None:
    source = text.replace("{", "{{").replace("}", "}}")
    template = parse(source, allowed=NAMES)

    assert render_text(template, {}) == text.replace("\r\n", "\n").replace("\r", "\n")
    html = render_html(template, {})
    # The only tags are the paragraphs and line breaks it makes.
    assert re.sub(r"</?p>|<br>", "", html).count("<") == 0


@given(st.text(alphabet="{}ab\n _", max_size=30))
def test_any_text_either_parses_or_says_where_it_goes_wrong(text: str) -> None:
    found = check(text, allowed=NAMES)
    if not found:
        parse(text, allowed=NAMES)
        return
    lines = text.replace("\r\n", "\n").split("\n")
    for error in found:
        assert error.line is not None
        assert error.column is not None
        assert 1 <= error.line <= len(lines)
        assert lines[error.line - 1][error.column - 1] in "{}"
