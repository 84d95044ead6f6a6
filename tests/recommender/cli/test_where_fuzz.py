"""Fuzzing ``--where``: any text is a filter the store accepts or one UsageError, never a traceback."""

from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.cli.search import parse_where_arguments
from recommender.errors import UndertoneError, UsageError
from recommender.store import parse_where

FUZZ = settings(max_examples=300, deadline=None, database=None)

PIECES = st.sampled_from([
    "genre", "year", "moods.calm", "=", "==", "<", "<=", ">", ">=", "!=", ",", '"', "'", " ", "007", "1e999", "-3.5",
    "nan", "rock", "{", "}", '"genre"', ":", '{"year": {"gte": 2000}}', "[", "]", "\\", "\x00", "é",
])
ITEM = st.one_of(st.text(max_size=40), st.lists(PIECES, max_size=12).map("".join))


@FUZZ
@given(items=st.lists(ITEM, max_size=4))
def test_any_where_text_parses_or_is_a_usage_error(items):
    try:
        where = parse_where_arguments(items)
    except UsageError:
        return
    try:
        parse_where(where)
    except UndertoneError:
        pass  # the command turns this into "--where: ..." too


@FUZZ
@given(
    key=st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,10}", fullmatch=True),
    low=st.integers(-10**6, 10**6),
    high=st.floats(allow_nan=False, allow_infinity=False, width=32),
    words=st.lists(st.text(st.characters(blacklist_characters="\"',", blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8)
                   .filter(lambda word: word.strip() == word and word[0] not in "=<>!"), min_size=1, max_size=3),
)
def test_well_formed_filters_mean_what_they_say(key, low, high, words):
    assert parse_where_arguments([f"{key}>={low}", f"{key}<{high!r}"]) == {key: {"gte": low, "lt": high}}
    quoted = ",".join(f'"{word}"' for word in words)
    assert parse_where_arguments([f"{key}=={quoted}"]) == {key: words[0] if len(words) == 1 else words}
