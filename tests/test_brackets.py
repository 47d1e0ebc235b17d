"""The one bracket scanner (rrr_cli/brackets.py) that task files, chat replies, the examples harness and
probe inputs share."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rrr_cli.brackets import code, expression_end, matching, split_top_level
from rrr_cli.execution.languages import get_language


def test_matching_skips_strings_and_the_languages_comments():
    text = 'f() { s = "}"; /* } */ // }\n  if (x) { y(); }\n}\nrest'
    assert matching(text, text.index("{"), get_language("cpp")) == text.index("}\nrest")
    bash = 'f() {\n  echo "$#" # }\n  x=${y}\n}\n'
    assert matching(bash, 4, get_language("sh")) == len(bash) - 2
    assert matching("{ open", 0) is None


def test_expression_end_stops_at_an_unopened_closer_or_a_semicolon():
    line = '    assert(candidate(std::string("a)b"), {1, 2}) == (3));'
    start = line.index("candidate(") + len("candidate(")
    assert line[expression_end(line, start)] == ")" and line[start:expression_end(line, start)].endswith("{1, 2}")
    assert expression_end("x; y", 0) == 1
    assert expression_end("(]", 0) is None
    assert expression_end("(", 0) is None
    assert expression_end("abc", 0) == 3


def test_split_top_level_keeps_brackets_strings_and_template_arguments_together():
    assert split_top_level('[1, 2], "a,b", f(3, 4)') == ["[1, 2]", '"a,b"', "f(3, 4)"]
    assert split_top_level("std::map<long, long>(), x -> y, 2", angle_brackets=True) == \
        ["std::map<long, long>()", "x -> y", "2"]
    assert split_top_level("a < b, c > d") == ["a < b", "c > d"]


@given(st.text(alphabet="ab(){}[];\"'`\\,# /*\n", max_size=30))
def test_code_yields_characters_in_order_and_never_inside_a_string(text):
    indices = [i for i, _ in code(text, 0, get_language("php"))]
    assert indices == sorted(set(indices)) and all(0 <= i < len(text) for i in indices)
    assert all(text[i] == char for i, char in code(text))
