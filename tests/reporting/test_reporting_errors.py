"""Renderer diagnostics summarised in one line."""

from __future__ import annotations

from cteimpact.reporting.errors import summarize_stderr


def test_error_lines_come_first_and_chatter_is_dropped():
    stderr = "\n".join([
        "Starting render...",
        "  processing file 1/3",
        "error: unclosed delimiter",
        "  ┌─ report.typ:2:4",
        "  │",
        "2 │ #foo(",
        "  │     ^",
        "ERROR: render failed",
    ])
    assert summarize_stderr(stderr) == "error: unclosed delimiter | ERROR: render failed"


def test_without_error_lines_the_last_lines_are_kept():
    assert summarize_stderr("a\n\nb\nc\nd") == "b | c | d"
    assert summarize_stderr("") == "(no diagnostic output)"


def test_long_diagnostics_are_cut():
    out = summarize_stderr("error: " + "x" * 1000, limit=50)
    assert len(out) == 50 and out.endswith("…") and "\n" not in out
