"""pipelines.lightroom.lua_table: Lightroom develop-settings text parsed as data (never run) and written back exactly."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.lightroom.lua_table import (
    MAX_DEPTH,
    MAX_LENGTH,
    RESERVED,
    LuaTableError,
    format_lua_table,
    parse_lua_table,
)

FIVEK_TEXT = ('s = { Brightness = 50, Contrast = 25, Exposure = 0.35, ToneCurve = { 0, 0, 32, 22, 64, 56, 128, '
              '128, 192, 196, 255, 255 }, ToneCurveName = "Medium Contrast", WhiteBalance = "As Shot", '
              'RetouchInfo = {}, PaintBasedCorrections = { { What = "Correction", CorrectionAmount = 1, } }, }')

# the layout Lightroom writes into Adobe_imageDevelopSettings.text
LIGHTROOM_TEXT = """s = { AutoBrightness = false,
\tBrightness = 50,
\tExposure = -1.25,
\tProcessVersion = "5.0",
\tTemperature = 5250,
\tToneCurve = {
\t\t0,
\t\t0,
\t\t255,
\t\t255,
\t},
\tVersion = 5.4,
}
"""


def test_the_fiveK_settings_text_gives_the_right_values():
    assert parse_lua_table(FIVEK_TEXT) == {
        "Brightness": 50, "Contrast": 25, "Exposure": 0.35,
        "ToneCurve": [0, 0, 32, 22, 64, 56, 128, 128, 192, 196, 255, 255],
        "ToneCurveName": "Medium Contrast", "WhiteBalance": "As Shot", "RetouchInfo": {},
        "PaintBasedCorrections": [{"What": "Correction", "CorrectionAmount": 1}]}
    values = parse_lua_table(FIVEK_TEXT)
    assert type(values["Brightness"]) is int and type(values["Exposure"]) is float


def test_the_multiline_lightroom_layout_and_a_bare_table_parse():
    assert parse_lua_table(LIGHTROOM_TEXT) == {
        "AutoBrightness": False, "Brightness": 50, "Exposure": -1.25, "ProcessVersion": "5.0",
        "Temperature": 5250, "ToneCurve": [0, 0, 255, 255], "Version": 5.4}
    assert parse_lua_table("{ 1, 2; 3 }") == [1, 2, 3]
    assert parse_lua_table("{}") == {}
    assert parse_lua_table("  settings={a=true,b=false,c=nil}  ") == {"a": True, "b": False, "c": None}


def test_string_escapes_are_decoded():
    text = r'''s = { a = "q\"b\\s\nn\tt\rr", b = 'it\'s "x"', c = "\65\066\0671", d = "\x41\x7a",
                     e = "\228\184\173", f = "中文 ü", g = "\u{1F600}", h = "a\z
                          b", i = "\a\b\f\v" }'''
    assert parse_lua_table(text) == {"a": 'q"b\\s\nn\tt\rr', "b": "it's \"x\"", "c": "ABC1", "d": "Az",
                                     "e": "中", "f": "中文 ü", "g": "\U0001F600", "h": "ab", "i": "\a\b\f\v"}


def test_long_strings_and_comments():
    text = """-- a settings dump
    s = { -- the first item
        a = [[line one
    "quoted" \\n stays]], --[[ a block
    comment ]] b = [==[x]]y]==],
        --[=[ another ]=] c = 1, -- trailing
    } -- done"""
    assert parse_lua_table(text) == {"a": 'line one\n    "quoted" \\n stays', "b": "x]]y", "c": 1}
    assert parse_lua_table("s = { a = [[\nfirst newline dropped]] }") == {"a": "first newline dropped"}


@pytest.mark.parametrize("literal, value", [
    ("0", 0), ("-7", -7), ("- 7", -7), ("12345678901234567890", 12345678901234567890),
    ("0.35", 0.35), ("-0.5", -0.5), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("-1.5E-2", -0.015),
    ("2e+2", 200.0), ("0x1F", 31), ("0Xff", 255), ("-0x10", -16),
])
def test_numbers(literal, value):
    got = parse_lua_table(f"s = {{ v = {literal} }}")["v"]
    assert got == value and type(got) is type(value)


def test_keys_bracketed_and_positional():
    text = 's = { ["any key"] = 1, ["and"] = 2, [3] = "three", [4.0] = "four", "first", "second", x = {} }'
    assert parse_lua_table(text) == {"any key": 1, "and": 2, 3: "three", 4: "four", 1: "first", 2: "second",
                                     "x": {}}


def where(text: str, needle: str, occurrence: int = 0) -> tuple[int, str]:
    """(offset, 'line L, column C') of the occurrence-th `needle` in text."""
    pos = -1
    for _ in range(occurrence + 1):
        pos = text.index(needle, pos + 1)
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return pos, f"line {line}, column {col}"


@pytest.mark.parametrize("text, at, what", [
    ("s = { a = 1, b = 2", "\x00end", "expected ',' or ';' or '}' after a table item, found end of text"),
    ("s = {\n a = 1, b = 2,", "\x00end", "expected '}' to close the table opened at line 1, column 5"),
    ('s = { a = "unterminated }', '"', "unterminated string"),
    ('s = { a = "broken\nline" }', '"', "unterminated string"),
    ("s = { a = [[never closed }", "[[", "unterminated long string"),
    ("s = { --[[ never closed }", "--[[", "unterminated block comment"),
    ("s = { Exposure = }", "}", "expected a value"),
    ("s = { Exposure = 1 2 }", "2", "expected ',' or ';' or '}'"),
    ("s = { Exposure = 1 } garbage", "garbage", "expected end of text after the table, found name 'garbage'"),
    ("s = { Exposure = 1 } ]", "]", "expected end of text"),
    ("s = { Exposure = 1e }", "1e", "malformed number"),
    ("s = { Exposure = 0x1p4 }", "0x1p4", "malformed number"),
    ('s = { a = "\\q" }', "\\q", "invalid escape sequence \\q"),
    ('s = { a = "\\300" }', "\\300", "larger than 255"),
    ('s = { a = "\\xZZ" }', "\\xZZ", "two hex digits"),
    ('s = { a = "\\255" }', '"', "not valid UTF-8"),
    ("s = { a = 1, a = 2 }", "a = 2", "duplicate key 'a'"),
    ("s = { [true] = 1 }", "true", "a string or number key"),
    ("s = { a = - }", "}", "a number after '-'"),
    ("s = { a = --1\n }", "}", "expected a value"),
    ("s { a = 1 }", "{", "expected '=' after the variable name"),
    ("return { a = 1 }", "return", "expected '{' or a `name =` assignment"),
    ("", "\x00end", "expected '{' (a table), found end of text"),
])
def test_malformed_text_names_the_position(text, at, what):
    pos = len(text) if at == "\x00end" else text.index(at)
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    with pytest.raises(LuaTableError) as err:
        parse_lua_table(text)
    assert err.value.position == pos
    assert str(err.value).startswith(f"line {line}, column {col}: ")
    assert what in str(err.value)


def test_an_error_on_a_later_line_counts_lines_and_columns():
    text = "s = {\n\tBrightness = 50,\n\tExposure = 0.35 0.4,\n}"
    pos, place = where(text, "0.4")
    with pytest.raises(LuaTableError, match=f"^{place}: expected ',' or ';' or '}}' after a table item, "
                                            f"found number 0.4$") as err:
        parse_lua_table(text)
    assert err.value.position == pos and place == "line 3, column 18"


@pytest.mark.parametrize("template, at", [
    ('s = {{ Exposure = os.execute("touch {marker}") }}', "os.execute"),
    ('s = os.execute("touch {marker}")', "os.execute"),
    ('s = {{ a = ("x"):rep(10), b = io.open("{marker}", "w") }}', "("),
    ("s = {{ a = 1 .. 2 }}", "."),
    ("s = {{ a = 1 + 2 }}", "+"),
    ("s = {{ f = function() os.execute('touch {marker}') end }}", "function"),
    ("s = {{ a = require }}", "require"),
    ("s = {{ a = 1 }}; os.execute('touch {marker}')", ";"),
    ("s = {{ a = {{ b = x.y }} }}", "x"),
])
def test_code_is_rejected_and_nothing_runs(tmp_path, template, at):
    marker = tmp_path / "pwned"
    text = template.format(marker=marker)
    with pytest.raises(LuaTableError) as err:
        parse_lua_table(text)
    assert err.value.position == text.index(at)
    assert not marker.exists()


def test_nesting_and_length_limits():
    def nested(levels: int) -> str:
        return "s = " + "{ " * levels + "}" * levels

    depth = 0
    value = parse_lua_table(nested(MAX_DEPTH))
    while value:
        value, depth = value[0], depth + 1
    assert depth == MAX_DEPTH - 1                     # MAX_DEPTH tables, the innermost empty
    with pytest.raises(LuaTableError, match=f"deeper than {MAX_DEPTH}") as err:
        parse_lua_table(nested(MAX_DEPTH + 1))
    assert err.value.position == 4 + 2 * MAX_DEPTH
    with pytest.raises(LuaTableError, match="nested deeper"):
        parse_lua_table("s = " + "{" * 100_000)    # no RecursionError
    long = "s = { a = [[" + "x" * MAX_LENGTH + "]] }"
    with pytest.raises(LuaTableError, match="longer than") as err:
        parse_lua_table(long)
    assert err.value.position == MAX_LENGTH


def test_format_writes_the_lightroom_layout():
    text = format_lua_table({"ToneCurve": [0, 0, 255, 255], "Brightness": 50, "Exposure": 0.35,
                             "ToneCurveName": 'Say "hi"\n', "Auto": False, "RetouchInfo": {},
                             "Looks": {"and": 1, "Name": "x", 2: "two"}})
    assert text == ('s = {\n\tAuto = false,\n\tBrightness = 50,\n\tExposure = 0.35,\n'
                    '\tLooks = {\n\t\t[2] = "two",\n\t\tName = "x",\n\t\t["and"] = 1,\n\t},\n'
                    '\tRetouchInfo = {},\n\tToneCurve = {\n\t\t0,\n\t\t0,\n\t\t255,\n\t\t255,\n\t},\n'
                    '\tToneCurveName = "Say \\"hi\\"\\n",\n}')
    assert format_lua_table({"a": 1}, name=None) == "{\n\ta = 1,\n}"


@pytest.mark.parametrize("value, error", [
    ({"a": float("nan")}, ValueError), ({"a": float("inf")}, ValueError), ({"a": object()}, TypeError),
    ({1.5: 1}, TypeError), ({True: 1}, TypeError), ({"a": "\ud800"}, ValueError),
])
def test_format_refuses_what_has_no_lua_literal(value, error):
    with pytest.raises(error):
        format_lua_table(value)
    with pytest.raises(ValueError):
        format_lua_table({"a": 1}, name="end")


NAME_CHARS = "abcXYZ_019"


def random_string(rng: np.random.Generator) -> str:
    """Random text: ASCII incl. quotes/backslashes/controls, Latin, CJK, emoji (no surrogates)."""
    pools = [(0, 0x80), (0x80, 0x800), (0x4E00, 0x9FFF), (0x1F600, 0x1F64F)]
    chars = []
    for _ in range(int(rng.integers(0, 12))):
        lo, hi = pools[int(rng.integers(len(pools)))]
        chars.append(chr(int(rng.integers(lo, hi))))
    return "".join(chars)


def random_key(rng: np.random.Generator) -> str | int:
    kind = rng.integers(4)
    if kind == 0:
        return int(rng.integers(-5, 100))
    if kind == 1:
        return sorted(RESERVED)[int(rng.integers(len(RESERVED)))]
    if kind == 2:
        return random_string(rng)
    first = "abcXYZ_"[int(rng.integers(7))]
    return first + "".join(NAME_CHARS[int(i)] for i in rng.integers(0, len(NAME_CHARS), rng.integers(0, 8)))


def random_scalar(rng: np.random.Generator):
    kind = rng.integers(7)
    if kind == 0:
        return int(rng.integers(-2**62, 2**62)) * int(rng.choice([1, 1 << 40]))
    if kind == 1:                                   # any finite double, from random bits
        while True:
            f = float(np.array([rng.integers(0, 2**63, dtype=np.uint64)], dtype=np.uint64).view(np.float64)[0])
            if math.isfinite(f):
                return f * float(rng.choice([-1, 1]))
    if kind == 2:
        return float(rng.normal() * 10.0 ** int(rng.integers(-8, 8)))
    if kind == 3:
        return round(float(rng.uniform(-100, 100)), int(rng.integers(0, 4)))
    if kind == 4:
        return bool(rng.integers(2))
    if kind == 5:
        return None
    return random_string(rng)


def random_value(rng: np.random.Generator, depth: int):
    kind = rng.integers(6) if depth < 5 else 0
    if kind <= 2:
        return random_scalar(rng)
    if kind == 3:                                   # lists are non-empty: {} reads back as a dict
        return [random_value(rng, depth + 1) for _ in range(int(rng.integers(1, 5)))]
    return {random_key(rng): random_value(rng, depth + 1) for _ in range(int(rng.integers(0, 6)))}


def test_round_trip_of_random_nested_values():
    rng = np.random.default_rng(20260501)
    for case in range(300):
        value = {random_key(rng) if case % 3 else f"k{i}": random_value(rng, 1) for i in range(int(rng.integers(0, 8)))}
        text = format_lua_table(value, name=None if case % 5 == 0 else "s")
        back = parse_lua_table(text)
        assert back == value, text
        assert format_lua_table(back, name=None if case % 5 == 0 else "s") == text   # floats written exactly


def test_round_trip_keeps_float_bits_and_int_types():
    values = {"a": 0.1 + 0.2, "b": 5e-324, "c": 1.7976931348623157e308, "d": -0.0, "e": 1.0, "f": 10**30,
              "g": 1e16, "h": 123456789.123456789, "i": [1, 1.0, -1, "1"]}
    back = parse_lua_table(format_lua_table(values))
    for k in "abcdefgh":
        assert type(back[k]) is type(values[k]) and repr(back[k]) == repr(values[k])
    assert [type(v) for v in back["i"]] == [int, float, int, str]
    assert math.copysign(1, back["d"]) == -1


def test_numpy_scalars_are_written_as_plain_numbers():
    values = {"a": np.float64(0.35), "b": np.int64(-3), "c": np.float32(0.1), "d": np.bool_(True),
              "e": [np.uint8(255), np.float16(0.5)]}
    text = format_lua_table(values)
    assert "np." not in text
    assert parse_lua_table(text) == {"a": 0.35, "b": -3, "c": float(np.float32(0.1)), "d": True, "e": [255, 0.5]}
