"""Where a long block still growing is cut while it streams (long_blocks.py): code blocks after a
complete line, each part a closed block of the same fence and language; paragraphs between sentences
where nothing inline is open; nothing else is ever cut."""

from __future__ import annotations

from nbagent.notebook.markdown.lab_parser import parser
from nbagent.notebook.markdown.long_blocks import long_block_cut

LINES = [f"row_{i} = compute({i})  # the {i}th row" for i in range(40)]


def code_of(markdown: str) -> list[str]:
    return [token.content for token in parser().parse(markdown) if token.type == "fence"]


def test_a_long_code_block_is_cut_after_its_last_complete_line():
    tail = "~~~~ python title\n" + "\n".join(LINES) + "\nrow_40 = comp"
    cut = long_block_cut(tail)
    assert cut is not None and cut.reopen == "~~~~ python title\n"
    assert cut.part == "~~~~ python title\n" + "\n".join(LINES) + "\n~~~~\n"
    assert code_of(cut.part) == ["\n".join(LINES) + "\n"]  # a closed block of exactly those lines
    assert tail[cut.shown:] == "row_40 = comp"
    [token] = [t for t in parser().parse(cut.reopen + tail[cut.shown:]) if t.type == "fence"]
    assert token.info.strip() == "python title"


def test_an_indented_fence_keeps_its_indent_and_a_closed_one_is_not_cut():
    tail = "  ```js\n" + "\n".join("  " + line for line in LINES) + "\n  x"
    cut = long_block_cut(tail)
    assert cut is not None and cut.part.endswith("\n  ```\n") and cut.reopen == "  ```js\n"
    assert code_of(cut.part) == ["\n".join(LINES) + "\n"]
    assert long_block_cut("```\n" + "\n".join(LINES) + "\n```\n") is None  # closed: finished, not long
    arriving = long_block_cut("```\n" + "\n".join(LINES) + "\n``")  # its closing fence on the way: in the rest
    assert arriving is not None and arriving.part.endswith("th row\n```\n") and arriving.shown == len(arriving.part) - 4


def test_a_paragraph_is_cut_after_a_sentence_with_nothing_inline_open():
    sentences = [f"Sentence {i} is *plain* and has `code` in it." for i in range(20)]
    tail = " ".join(sentences) + " Then *an open emphasis. That goes on"
    cut = long_block_cut(tail)
    assert cut is not None and cut.reopen == ""
    assert cut.part == " ".join(sentences) + " " and tail[cut.shown:].startswith("Then *an open")


def test_a_paragraph_is_not_cut_where_the_rest_would_start_another_block():
    tail = " ".join(f"Item {i} costs 3. - 2 = 1 here" for i in range(30)) + " and so on"
    cut = long_block_cut(tail)
    assert cut is not None
    assert tail[cut.shown].isalpha()  # never before "- 2", which would open a list


def test_escaped_delimiters_open_nothing_and_short_or_mixed_tails_are_left_alone():
    tail = " ".join(rf"Price \$5 and a \* star, sentence {i}." for i in range(20)) + " More"
    cut = long_block_cut(tail)
    assert cut is not None and tail[cut.shown:] == "More"
    assert long_block_cut("A short paragraph. Still growing") is None
    assert long_block_cut("- " + " ".join(f"Item words {i}." for i in range(60))) is None  # a list: not cut
    assert long_block_cut("Para.\n\n" + " ".join(f"Words {i}." for i in range(60))) is None  # two blocks


def test_a_cut_never_takes_back_what_the_output_shows():
    """The part covers at least all the output showed at the last update: the output only ever grows."""
    tail = "```\n" + "\n".join(LINES) + "\nrow_40 = comp"
    assert long_block_cut(tail, shown=len(tail) - 3) is None  # the last line is not complete yet
    assert long_block_cut(tail, shown=tail.rfind("\n") + 1).shown == tail.rfind("\n") + 1
    words = " ".join(f"word{i}" for i in range(80))
    cut = long_block_cut(words + " more", shown=len(words) - 2)
    assert cut is not None and cut.part == words + " "  # to the end of the word being shown
    assert long_block_cut(words, shown=len(words)) is None  # nothing after it yet: wait for the next update
