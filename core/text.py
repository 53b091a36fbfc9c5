"""Characters that no text of the product may hold, wherever it comes from (a form, a query
string, an intake document).

- **Control characters** (Unicode category Cc: NUL, line breaks, DEL, the C1 range): PostgreSQL
  refuses NUL in a text column, and every one of them breaks a fixed-width export line.
- **Format characters** (Cf): invisible, and some of them reorder what is shown. A name with U+202E
  (RIGHT-TO-LEFT OVERRIDE) reads differently on screen than it is stored, so a clerk could approve
  a basis that is not the one she sees.
- **Line and paragraph separators** (U+2028, U+2029): line breaks by another name.
- **Lone surrogates** (Cs): cannot be stored as UTF-8 at all.

Letters of every Nordic and Sámi alphabet (æ ø å ä ö á č đ ŋ š ŧ ž …), combining accents and
ordinary punctuation are none of these. The character classes are written out because computing
them from `unicodedata` costs a scan of every code point at each start; `tests/test_params.py`
holds them to Python's own tables, so a newer Unicode shows up as a failing test.
"""

from __future__ import annotations

import re
import unicodedata

# Unicode 14.0 (Python 3.11), category Cf.
FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
CONTROL = "\x00-\x1f\x7f-\x9f"
SEPARATORS = "\u2028\u2029"
SURROGATES = "\ud800-\udfff"

# Every character a one-line text refuses.
FORBIDDEN = re.compile(f"[{CONTROL}{FORMAT}{SEPARATORS}{SURROGATES}]")
# The same, except tab and line breaks: for texts written in a text area (a reason, a list).
FORBIDDEN_MULTILINE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{FORMAT}{SURROGATES}]")


def forbidden_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character of `value` that a text may not hold, or None."""
    match = (FORBIDDEN_MULTILINE if multiline else FORBIDDEN).search(value)
    return match.group() if match else None


def describe(char: str) -> str:
    """`U+202E RIGHT-TO-LEFT OVERRIDE`: how an error names a character no one can see."""
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "")
    return f"{code} {name}" if name else code


def is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF
