"""Lightroom develop-settings text (a Lua table literal) parsed as data and written back; never evaluated.

The catalog stores settings as `s = { Brightness = 50, ToneCurve = { 0, 0, 255, 255 }, ... }`.
parse_lua_table is a recursive-descent parser over a small tokenizer that accepts only table
constructors, strings, numbers, true/false/nil: any identifier used as a value, call, operator or
function definition is a LuaTableError naming its line, column and character offset.
format_lua_table writes the Lightroom layout (one item per line, tab indents, keys sorted).
"""
from __future__ import annotations

import math
import numbers
import re
from typing import Any, Iterator, Mapping

import numpy as np

MAX_DEPTH = 64                        # deepest table nesting accepted
MAX_LENGTH = 10 * 1024 * 1024         # longest text accepted, in characters

RESERVED = frozenset("and break do else elseif end false for function goto if in local nil not or "
                     "repeat return then true until while".split())

_WHITESPACE = re.compile(r"[ \t\r\n\f\v]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]")
_LONG_OPEN = re.compile(r"\[(=*)\[")
_PLAIN_RUN = {'"': re.compile(r'[^"\\\n\r]+'), "'": re.compile(r"[^'\\\n\r]+")}
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'",
                   "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\n": "\n", "\r": "\n"}


class LuaTableError(ValueError):
    """A settings text that is not a plain Lua table literal; .position is the 0-based character offset."""

    def __init__(self, text: str, position: int, message: str):
        self.position = position
        super().__init__(f"{_where(text, position)}: {message}")


# a token: (kind, value, start) with kind 'name', 'string', 'number', 'eof', or the punctuation /
# unknown character itself; start is its 0-based character offset
_Token = tuple


def _describe(kind: str, value: Any) -> str:
    """How an error message names a token."""
    if kind == "eof":
        return "end of text"
    if kind == "name":
        return f"name {value!r}"
    if kind == "string":
        return "a string"
    if kind == "number":
        return f"number {value!r}"
    return repr(kind)


def _where(text: str, position: int) -> str:
    """'line L, column C' (both 1-based) of a 0-based character offset."""
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}"


# the common tokens in one match (leading whitespace, then a name, numeral, escape-free string or
# punctuation); anything else (comments, '[', '-', strings with escapes, end, bad characters) goes
# through the character-by-character path in _tokens
_FAST = re.compile(r"""[ \t\r\n\f\v]*(?:
      (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<number>0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | "(?P<dq>[^"\\\n\r]*)"
    | '(?P<sq>[^'\\\n\r]*)'
    | (?P<punct>[{}=,;\]])
    )?""", re.X)


def _tokens(text: str) -> Iterator[_Token]:
    """Tokens of `text`, lazily, so an error is reported where the parser first meets it."""
    pos, end = 0, len(text)
    fast, number_tail = _FAST.match, _NUMBER_TAIL.match
    while True:
        m = fast(text, pos)
        group = m.lastgroup
        if group is not None:
            start = m.start(group)
            if group == "name":
                yield "name", m.group(group), start
            elif group == "punct":
                yield m.group(group), None, start
            elif group == "number":
                numeral = m.group(group)
                if number_tail(text, m.end()):
                    raise LuaTableError(text, start, f"malformed number near {text[start:m.end() + 1]!r}")
                if numeral[1:2] in ("x", "X"):
                    yield "number", int(numeral, 16), start
                elif "." in numeral or "e" in numeral or "E" in numeral:
                    yield "number", float(numeral), start
                else:
                    yield "number", int(numeral), start
            else:
                yield "string", m.group(group), start - 1
            pos = m.end()
            continue
        pos = m.end()
        if text.startswith("--", pos):
            pos = _skip_comment(text, pos)
            continue
        if pos >= end:
            yield "eof", None, pos
            return
        c = text[pos]
        if c == '"' or c == "'":
            value, new = _short_string(text, pos)
            yield "string", value, pos
        elif c == "[" and _LONG_OPEN.match(text, pos):
            value, new = _long_string(text, pos, "long string")
            yield "string", value, pos
        else:
            new = pos + 1
            yield c, None, pos   # '[', '-', or an unknown character the parser rejects by name
        pos = new


def _skip_comment(text: str, pos: int) -> int:
    """Offset after the `--` comment at `pos` (a line comment or a --[[ block ]] / --[==[ ]==] comment)."""
    if _LONG_OPEN.match(text, pos + 2):
        return _long_string(text, pos + 2, "block comment", start=pos)[1]
    newline = text.find("\n", pos)
    return len(text) if newline < 0 else newline + 1


def _long_string(text: str, pos: int, what: str, start: int | None = None) -> tuple[str, int]:
    """(content, offset after) of a [[...]] / [==[...]==] bracket at `pos`; a first newline is dropped."""
    opening = _LONG_OPEN.match(text, pos)
    close = "]" + opening.group(1) + "]"
    body = opening.end()
    stop = text.find(close, body)
    if stop < 0:
        raise LuaTableError(text, pos if start is None else start, f"unterminated {what} (no closing {close})")
    content = text[body:stop]
    if content.startswith("\r\n"):
        content = content[2:]
    elif content.startswith("\n") or content.startswith("\r"):
        content = content[1:]
    return content, stop + len(close)


def _short_string(text: str, pos: int) -> tuple[str, int]:
    """(value, offset after) of a '...' or "..." string at `pos`, escapes decoded (\\ddd and \\xXX are bytes)."""
    quote, plain = text[pos], _PLAIN_RUN[text[pos]]
    out = bytearray()
    i, end = pos + 1, len(text)
    while True:
        run = plain.match(text, i)
        if run:
            out += run.group().encode("utf-8", "surrogatepass")
            i = run.end()
        if i >= end or text[i] in "\n\r":
            raise LuaTableError(text, pos, "unterminated string")
        c = text[i]
        if c == quote:
            break
        i, decoded = _escape(text, i)        # c is a backslash
        out += decoded
    try:
        return out.decode("utf-8"), i + 1
    except UnicodeDecodeError as exc:
        raise LuaTableError(text, pos, f"string is not valid UTF-8 ({exc.reason})") from None


def _escape(text: str, i: int) -> tuple[int, bytes]:
    """(offset after, bytes) of the escape sequence starting with the backslash at `i`."""
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if nxt in _SIMPLE_ESCAPES and nxt:
        after = i + 2
        if nxt == "\r" and text.startswith("\n", after) or nxt == "\n" and text.startswith("\r", after):
            after += 1
        return after, _SIMPLE_ESCAPES[nxt].encode()
    if nxt.isdigit():
        digits = re.match(r"[0-9]{1,3}", text[i + 1:i + 4]).group()
        if int(digits) > 255:
            raise LuaTableError(text, i, f"decimal escape \\{digits} is larger than 255")
        return i + 1 + len(digits), bytes([int(digits)])
    if nxt == "x":
        hexa = text[i + 2:i + 4]
        if not re.fullmatch(r"[0-9a-fA-F]{2}", hexa):
            raise LuaTableError(text, i, "hexadecimal escape \\x needs exactly two hex digits")
        return i + 4, bytes([int(hexa, 16)])
    if nxt == "z":
        return _WHITESPACE.match(text, i + 2).end(), b""
    if nxt == "u":
        m = re.match(r"u\{([0-9a-fA-F]{1,8})\}", text[i + 1:i + 12])
        if not m or int(m.group(1), 16) > 0x10FFFF:
            raise LuaTableError(text, i, "malformed \\u{XXX} escape")
        return i + 1 + m.end(), chr(int(m.group(1), 16)).encode("utf-8", "surrogatepass")
    raise LuaTableError(text, i, f"invalid escape sequence \\{nxt}" if nxt else "unterminated string")


class _Parser:
    """Recursive descent over _tokens with one token of lookahead in (kind, value, start)."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.kind, self.value, self.start = next(self.tokens)

    def advance(self) -> Any:
        """Move to the next token; returns the value of the one left."""
        value = self.value
        self.kind, self.value, self.start = next(self.tokens)
        return value

    def fail(self, expected: str) -> LuaTableError:
        return LuaTableError(self.text, self.start, f"expected {expected}, found {_describe(self.kind, self.value)}")

    def expect(self, kind: str, expected: str) -> Any:
        if self.kind != kind:
            raise self.fail(expected)
        return self.advance()

    def document(self) -> dict | list:
        if self.kind == "name":
            if self.value in RESERVED:
                raise self.fail("'{' or a `name =` assignment")
            self.advance()
            self.expect("=", "'=' after the variable name")
        if self.kind != "{":
            raise self.fail("'{' (a table)")
        table = self.table(1)
        if self.kind != "eof":
            raise self.fail("end of text after the table")
        return table

    def table(self, depth: int) -> dict | list:
        opening = self.start
        if depth > MAX_DEPTH:
            raise LuaTableError(self.text, opening, f"tables nested deeper than {MAX_DEPTH} levels")
        self.advance()                                     # '{'
        positional: list = []
        keyed: dict = {}
        while self.kind != "}":
            kind, key_start = self.kind, self.start
            if kind == "name" and self.value not in RESERVED:
                key = self.advance()
                self.expect("=", "'=' after the field name")
            elif kind == "[":
                self.advance()
                key = self.key()
                self.expect("]", "']' after the key")
                self.expect("=", "'=' after the key")
            elif kind == "eof":
                raise self.fail(f"'}}' to close the table opened at {_where(self.text, opening)}")
            else:
                positional.append(self.item(depth))
                key = None
            if key is not None:
                if key in keyed:
                    raise LuaTableError(self.text, key_start, f"duplicate key {key!r}")
                keyed[key] = self.item(depth)
            kind = self.kind
            if kind == "," or kind == ";":
                self.advance()
            elif kind != "}":
                raise self.fail("',' or ';' or '}' after a table item")
        self.advance()                                     # '}'
        if not keyed and positional:
            return positional
        for index, value in enumerate(positional, 1):
            if index in keyed:
                raise LuaTableError(self.text, opening, f"key [{index}] is also a positional item")
            keyed[index] = value
        return keyed

    def key(self) -> str | int | float:
        if self.kind == "string":
            return self.advance()
        if self.kind == "number" or self.kind == "-":
            value = self.number()
            return int(value) if isinstance(value, float) and value.is_integer() else value
        raise self.fail("a string or number key inside [ ]")

    def number(self) -> int | float:
        negative = self.kind == "-"
        if negative:
            self.advance()
        value = self.expect("number", "a number after '-'" if negative else "a number")
        return -value if negative else value

    def item(self, depth: int) -> Any:
        kind = self.kind
        if kind == "string" or kind == "number":
            return self.advance()
        if kind == "{":
            return self.table(depth + 1)
        if kind == "-":
            return self.number()
        if kind == "name" and self.value in _CONSTANTS:
            return _CONSTANTS[self.advance()]
        raise self.fail("a value (table, string, number, true, false or nil)")


_CONSTANTS = {"true": True, "false": False, "nil": None}


def parse_lua_table(text: str) -> dict | list:
    """Data of a Lua table literal `s = {...}` or `{...}`: dict (keyed items) or list (positional only); {} -> {}."""
    if not isinstance(text, str):
        raise TypeError(f"settings text must be str, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise LuaTableError(text[:MAX_LENGTH], MAX_LENGTH, f"text longer than {MAX_LENGTH} characters")
    return _Parser(text).document()


# ------------------------------------------------------------------ writing
def format_lua_table(values: Mapping[str, Any], name: str | None = "s") -> str:
    """Lightroom-style text of a mapping (`name = {` ... `}`, tab indents, sorted keys, exact floats)."""
    if name is not None and (not _NAME.fullmatch(name) or name in RESERVED):
        raise ValueError(f"{name!r} is not a Lua variable name")
    body = _format_value(values, 0)
    return body if name is None else f"{name} = {body}"


def _format_value(value: Any, depth: int) -> str:
    if value is None:
        return "nil"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):                  # int and numpy integers
        return str(int(value))
    if isinstance(value, numbers.Real):                      # float and numpy floats, written exactly
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{value} has no Lua literal")
        return repr(value)
    if isinstance(value, str):
        return _format_string(value)
    if isinstance(value, (Mapping, list, tuple)) and depth >= MAX_DEPTH:
        raise ValueError(f"tables nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: _key_order(kv[0]))
        lines = [f"{_format_key(k)} = {_format_value(v, depth + 1)}" for k, v in items]
    elif isinstance(value, (list, tuple)):
        lines = [_format_value(v, depth + 1) for v in value]
    else:
        raise TypeError(f"cannot write a {type(value).__name__} as a Lua value")
    if not lines:
        return "{}"
    inner, outer = "\t" * (depth + 1), "\t" * depth
    return "{\n" + "".join(f"{inner}{line},\n" for line in lines) + outer + "}"


def _key_order(key: Any) -> tuple[int, Any]:
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"table keys must be str or int, not {type(key).__name__} ({key!r})")
    return (0, key, "") if isinstance(key, int) else (1, 0, key)


def _format_key(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if _NAME.fullmatch(key) and key not in RESERVED:
        return key
    return f"[{_format_string(key)}]"


_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f]')


def _format_string(value: str) -> str:
    def escape(m: re.Match) -> str:
        c = m.group()
        return _STRING_ESCAPES.get(c) or f"\\{ord(c):03d}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"string is not encodable as UTF-8: {exc.reason}") from None
    return '"' + _NEEDS_ESCAPE.sub(escape, value) + '"'
