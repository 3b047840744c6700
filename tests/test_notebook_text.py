"""Every notebook reads as finished: no template tokens, no control characters, every exercise answered.

The rules read the cells' sources (markdown and code) as stored; outputs are not text a teacher wrote.

How the notebooks write an exercise, and so what this test holds them to:

- An exercise starts at a line of a markdown cell that opens with a bold lead-in: ``**Exercise N``,
  ``**Try this``, or, inside a section headed ``## Exercises``, ``**N.``.
- It ends where the next exercise starts or at the next heading of level 1 or 2 (``# `` or ``## ``),
  whichever comes first, counting positions inside a cell: notebooks 5-7 put an exercise's answer at the
  top of the cell that starts the next exercise, or of the ``## Summary`` cell.
- Its answer, inside that span, is either an ``<details><summary>Answer</summary> ... </details>`` block
  with text in it (in a markdown cell, or written by a code cell that generates it from computed values,
  ``display(Markdown(f"<details><summary>Answer</summary> ..."))``), or (an exercise where students write
  code) a solution cell followed by a check cell, marked with nbgrader's metadata (``solution: true`` and
  ``grade: true``, see ``cinlab.exercises``).
"""

import re
import unicodedata
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

TEMPLATE_TOKEN = re.compile(r"\b(?:[A-Z][A-Z0-9_]*_(?:TEXT|ANSWER)|TODO|FIXME|XXX)\b")
EXERCISE_START = re.compile(r"^\*\*(?:Exercise\s+\d+|Try this|(?P<numbered>\d+)\.)", re.MULTILINE)
HEADING = re.compile(r"^(?P<level>#{1,6})\s+(?P<title>.*)$", re.MULTILINE)
DETAILS = re.compile(r"<details>(?P<body>.*?)</details>", re.DOTALL)
SUMMARY = re.compile(r"^\s*<summary>(?P<summary>.*?)</summary>(?P<answer>.*)$", re.DOTALL)


CONTROL_NAMES = {"\b": "backspace", "\t": "tab", "\f": "form feed", "\r": "carriage return", "\x00": "NUL"}


def control_characters(text):
    """(offset, character) of every control character except newline (a tab in a notebook is an eaten ``\\t``)."""
    return [(i, ch) for i, ch in enumerate(text) if unicodedata.category(ch) == "Cc" and ch != "\n"]


def excerpt(text, start, end, margin=30):
    return repr(text[max(0, start - margin) : end + margin])


def template_problems(nb):
    return [
        f"cell {i} ({cell.cell_type}): template token {m.group()!r} in {excerpt(cell.source, m.start(), m.end())}"
        for i, cell in enumerate(nb.cells)
        for m in TEMPLATE_TOKEN.finditer(cell.source)
    ]


def control_problems(nb):
    return [
        f"cell {i} ({cell.cell_type}): control character U+{ord(ch):04X} ({CONTROL_NAMES.get(ch, 'control')}) "
        f"in {excerpt(cell.source, offset, offset + 1)}: an escape such as \\b of \\beta eaten by JSON or Python?"
        for i, cell in enumerate(nb.cells)
        for offset, ch in control_characters(cell.source)
    ]


def details_problems(nb):
    """An empty or unclosed ``<details>`` block, or one without a ``<summary>``."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        if cell.source.count("<details>") != cell.source.count("</details>"):
            problems.append(f"cell {i}: <details> and </details> do not pair up")
        for m in DETAILS.finditer(cell.source):
            inner = SUMMARY.match(m.group("body"))
            if inner is None:
                problems.append(
                    f"cell {i}: a <details> block without <summary>: {excerpt(cell.source, m.start(), m.end())}"
                )
            elif not inner.group("answer").strip():
                problems.append(f"cell {i}: the <details> block {inner.group('summary')!r} is empty")
    return problems


def nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def events(nb):
    """The notebook as a stream of (cell, offset, kind, detail) in reading order.

    kinds: "heading" (detail: level, title), "exercise" (detail: its lead-in line), "answer" (a non-empty
    ``<details>`` block whose summary is "Answer"), "solution" and "check" (code cells with nbgrader's
    solution / grade metadata).
    """
    stream = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            if nbgrader(cell).get("solution"):
                stream.append((i, 0, "solution", None))
            elif nbgrader(cell).get("grade"):
                stream.append((i, 0, "check", None))
            elif "<summary>Answer</summary>" in cell.source:  # an answer generated from computed values
                stream.append((i, 0, "answer", None))
            continue
        if cell.cell_type != "markdown":
            continue
        source = cell.source
        for m in HEADING.finditer(source):
            stream.append((i, m.start(), "heading", (len(m.group("level")), m.group("title").strip())))
        for m in EXERCISE_START.finditer(source):
            stream.append((i, m.start(), "exercise", (source[m.start() :].split("\n", 1)[0], m.group("numbered"))))
        for m in DETAILS.finditer(source):
            inner = SUMMARY.match(m.group("body"))
            if inner and inner.group("summary").strip().lower() == "answer" and inner.group("answer").strip():
                stream.append((i, m.start(), "answer", None))
    return sorted(stream, key=lambda e: (e[0], e[1]))


def unanswered_exercises(nb):
    """Each exercise whose span holds neither a non-empty Answer block nor a solution cell then a check cell."""
    problems, current, section = [], None, ""

    def close():
        if current is not None and not (current["answer"] or current["check_after_solution"]):
            problems.append(f"cell {current['cell']}: exercise {current['title']!r} has no answer")

    for cell, _, kind, detail in events(nb):
        if kind == "heading":
            level, title = detail
            if level <= 2:
                close()
                current, section = None, title
        elif kind == "exercise":
            line, numbered = detail
            if numbered is not None and section.lower() != "exercises":
                continue  # "**1. ..." counts as an exercise only in the Exercises section
            close()
            current = {"cell": cell, "title": line, "answer": False, "solution": False, "check_after_solution": False}
        elif current is not None:
            if kind == "answer":
                current["answer"] = True
            elif kind == "solution":
                current["solution"] = True
            elif kind == "check" and current["solution"]:
                current["check_after_solution"] = True
    close()
    return problems


def exercise_count(nb):
    return sum(1 for *_, kind, _ in events(nb) if kind == "exercise")


RULES = {
    "template tokens": template_problems,
    "control characters": control_problems,
    "details blocks": details_problems,
    "exercises without an answer": unanswered_exercises,
}


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_text(path, rule):
    nb = nbformat.read(path, as_version=4)
    problems = RULES[rule](nb)
    assert not problems, f"{path.name}, {rule}:\n  " + "\n  ".join(problems)


def test_the_notebooks_are_found_and_have_exercises():
    assert len(NOTEBOOKS) == 7
    for path in NOTEBOOKS:
        assert exercise_count(nbformat.read(path, as_version=4)) >= 1, f"{path.name}: no exercise found"


# The rules themselves, on small notebooks made here: each must catch what it is for, and only that.


def notebook(*cells):
    made = []
    for cell in cells:
        if isinstance(cell, tuple):  # (source, nbgrader metadata) of a code cell
            source, meta = cell
            made.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta}))
        elif cell.startswith("py:"):
            made.append(nbformat.v4.new_code_cell(cell[3:]))
        else:
            made.append(nbformat.v4.new_markdown_cell(cell))
    return nbformat.v4.new_notebook(cells=made)


ANSWER = "<details><summary>Answer</summary>\n\nBecause.\n</details>"


@pytest.mark.parametrize(
    "source",
    ["PICTURES_TEXT", "Then EX1_ANSWER.", "# TODO: finish", "FIXME", "see XXX"],
)
def test_template_tokens_are_found(source):
    assert template_problems(notebook(source))
    assert template_problems(notebook("py:" + source))


@pytest.mark.parametrize("source", ["GATYS_STYLE_WEIGHT = 2e-5", "the TEXT and the ANSWER", "Todo list", "XXXL"])
def test_ordinary_upper_case_is_not_a_template_token(source):
    assert not template_problems(notebook(source))


@pytest.mark.parametrize("character", ["\b", "\t", "\f", "\r", "\x00", "\x7f", "\x85"])
def test_control_characters_are_found(character):
    assert control_problems(notebook(f"$(\\gamma, {character}eta)$"))
    assert control_problems(notebook(f"py:x = 1{character}"))


def test_newlines_and_unicode_text_are_not_control_characters():
    assert not control_problems(notebook("γ, β, ½ · ×\n$\\beta$ — “quoted”"))


@pytest.mark.parametrize(
    "source",
    [
        "<details><summary>Answer</summary>\n\n</details>",
        "<details><summary>Answer</summary></details>",
        "<details>\nno summary\n</details>",
        "<details><summary>Answer</summary>\n\nnever closed",
    ],
)
def test_empty_or_broken_details_are_found(source):
    assert details_problems(notebook(source))


@pytest.mark.parametrize(
    "cells",
    [
        ["**Exercise 1 — why?** Explain.", "py:print(1)", "## Next section"],
        ["**Try this — smaller tiles.** Predict.", "py:print(1)"],
        ["## Exercises", "**1. Predict.** Then run.", "py:print(1)", ANSWER + "\n\n**2. Again.**", "## Summary"],
        ["**Exercise 1 — why?**", "<details><summary>Hint</summary>\n\nLook.\n</details>"],
        ["**Exercise 1 — why?**", "## Another section", ANSWER],  # the answer comes after the span ends
        ["## Exercises", "**1. Write it.**", ("### BEGIN SOLUTION\n### END SOLUTION", {"solution": True})],
        ["## Exercises", "**1. Write it.**", ("check()", {"grade": True}), ("solution", {"solution": True})],
    ],
    ids=["no answer", "try this", "second of two", "hint only", "answer too late", "no check", "check before"],
)
def test_exercises_without_an_answer_are_found(cells):
    assert unanswered_exercises(notebook(*cells))


@pytest.mark.parametrize(
    "cells",
    [
        ["**Exercise 1 — why?** Explain.\n\n" + ANSWER, "py:print(1)"],
        ["**Exercise 1 — why?**", 'py:display(Markdown(f"<details><summary>Answer</summary>\\n\\n{x:.0%}</details>"))'],
        [
            "## Exercises",
            "**1. Predict.**",
            "py:print(1)",
            ANSWER + "\n\n**2. Again.**",
            "py:print(2)",
            ANSWER + "\n\n## Summary",
        ],
        ["## A section", "**1. A numbered bold line outside Exercises is not an exercise.**"],
        [
            "## Exercises",
            "**1. Write it.**",
            ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", {"solution": True}),
            ("cinlab.exercises.check_f(f)", {"grade": True}),
        ],
    ],
    ids=[
        "answer in the same cell",
        "generated answer",
        "answers in later cells",
        "numbered elsewhere",
        "solution and check",
    ],
)
def test_answered_exercises_pass(cells):
    assert not unanswered_exercises(notebook(*cells))
