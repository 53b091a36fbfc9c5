"""Text for single-byte file encodings: clean line breaks, transliterate what the encoding lacks.

Both encodings the accounting systems read (ISO-8859-1, Windows-1252) are single-byte, so after
`Codec.clean()` a string's length is its width in bytes. Characters the encoding cannot hold are
replaced from an explicit table first (Sámi letters, typographic punctuation), then by their NFKD
base letters, and as a last resort by '?'. The database keeps the original; callers report every
basis whose text changed (`Codec.needs_transliteration`).
"""

from __future__ import annotations

import functools
import unicodedata

SUPPORTED_ENCODINGS = ("iso-8859-1", "cp1252")

# Explicit choices where NFKD gives nothing useful (đ, ŋ, ŧ have no decomposition) or something
# worse than the convention (quotes, dashes).
_TABLE: dict[str, str] = {
    # Northern, Lule, Southern, Inari and Skolt Sámi
    "č": "c",
    "Č": "C",
    "đ": "d",
    "Đ": "D",
    "ŋ": "n",
    "Ŋ": "N",
    "š": "s",
    "Š": "S",
    "ŧ": "t",
    "Ŧ": "T",
    "ž": "z",
    "Ž": "Z",
    "ʒ": "z",
    "Ʒ": "Z",
    "ǯ": "z",
    "Ǯ": "Z",
    "ǧ": "g",
    "Ǧ": "G",
    "ǥ": "g",
    "Ǥ": "G",
    "ǩ": "k",
    "Ǩ": "K",
    "ŉ": "n",
    # Typography
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "‹": "<",
    "›": ">",
    "“": '"',
    "”": '"',
    "„": '"',
    "‟": '"',
    "–": "-",
    "—": "-",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "…": "...",
    "•": "*",
    "€": "EUR",
    "‰": "o/oo",
    "™": "TM",
    "Œ": "OE",
    "œ": "oe",
    "Ÿ": "Y",
    "ƒ": "f",
    "ˆ": "^",
    "˜": "~",
    "†": "+",
    "‡": "+",
}

# Characters that would break a fixed-width line; they become one space each.
_LINE_BREAKING = "\r\n\t\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


class _TranslationTable(dict[int, str]):
    """A `str.translate` table filled lazily: each code point is decided once per process."""

    def __init__(self, encoding: str) -> None:
        super().__init__()
        self.encoding = encoding

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        value = self._decide(ch)
        self[code] = value
        return value

    def _fits(self, text: str) -> bool:
        try:
            text.encode(self.encoding)
        except UnicodeEncodeError:
            return False
        return True

    def _decide(self, ch: str) -> str:
        if ch in _LINE_BREAKING:
            return " "
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            return "" if unicodedata.category(ch) == "Cf" else " "
        if self._fits(ch):
            return ch
        explicit = _TABLE.get(ch)
        if explicit is not None and self._fits(explicit):
            return explicit
        base = "".join(
            c
            for c in unicodedata.normalize("NFKD", ch)
            if not unicodedata.combining(c) and self._fits(c)
        )
        return base or "?"


class Codec:
    """Cleaning and encoding for one file encoding. Get one with `codec(encoding)`."""

    def __init__(self, encoding: str) -> None:
        if encoding not in SUPPORTED_ENCODINGS:
            raise ValueError(f"Ukjent tegnsett {encoding!r}; bruk iso-8859-1 eller cp1252")
        self.encoding = encoding
        self._table = _TranslationTable(encoding)

    def fits(self, text: str) -> bool:
        """True if `clean(text)` would return `text` unchanged."""
        if not text.isprintable():
            return False
        if text.isascii():
            return True
        try:
            text.encode(self.encoding)
        except UnicodeEncodeError:
            return False
        return True

    def clean(self, text: str) -> str:
        """The text as it will stand in the file: line breaks as spaces, characters fitted."""
        if self.fits(text):
            return text
        return text.replace("\r\n", "\n").translate(self._table)

    def needs_transliteration(self, text: str) -> bool:
        """True if the file will show other letters than `text` has (not counting line breaks)."""
        if text.isascii():
            return False
        try:
            text.encode(self.encoding)
        except UnicodeEncodeError:
            return True
        return False

    def encode(self, text: str) -> bytes:
        return text.encode(self.encoding)

    @functools.cached_property
    def encodable(self) -> frozenset[str]:
        """Every character the encoding holds (a text with any other needs transliteration)."""
        held = set()
        for byte in range(256):
            try:
                held.add(bytes([byte]).decode(self.encoding))
            except UnicodeDecodeError:
                continue
        return frozenset(held)

    @functools.cached_property
    def unchanged(self) -> frozenset[str]:
        """The characters `clean()` keeps as they are: printable and held by the encoding."""
        return frozenset(ch for ch in self.encodable if self.fits(ch))

    @functools.cached_property
    def replacements(self) -> dict[str, str]:
        """The usual characters `clean()` replaces, with what it puts instead: the explicit table
        and Latin letters with accents from U+00A0 to U+024F, typographic punctuation from
        U+2000 to U+206F. Only those replaced by printable, unchanged text, and no white space
        (so `str.strip()` of a text made of these and unchanged characters strips spaces only)."""
        candidates = {*_TABLE, *map(chr, range(0xA0, 0x250)), *map(chr, range(0x2000, 0x2070))}
        found = {}
        for ch in sorted(candidates):
            if ch in self.unchanged or ch.isspace():
                continue
            replaced = self.clean(ch)
            if replaced and not replaced.isspace() and set(replaced) <= self.unchanged:
                found[ch] = replaced
        return found


@functools.cache
def codec(encoding: str) -> Codec:
    return Codec(encoding)
