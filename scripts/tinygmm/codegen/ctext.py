"""User text in generated C++: escaped for string literals and comments, or refused.

Everything a user controls (feature names, the data path, option text, the
namespace) reaches ``GMM.h`` and the golden vectors header through one of
these functions, so nothing they type becomes code:

* :func:`c_string` - a string literal in printable ASCII: ``\\``, ``"`` and
  every ``?`` are escaped (no trigraph such as ``??=`` can form under
  ``-std=c++11``), other bytes are 3-digit octal escapes of their UTF-8 (an
  octal escape ends after 3 digits; a hex one would swallow the next letters);
* :func:`c_comment` - text for a ``//`` line comment: one line of printable
  ASCII, no backslash that could splice the next line (``\\`` at the end,
  ``??/``), no bidirectional or other non-ASCII characters (``-Wbidi-chars``);
* :func:`check_identifier` - a C++ identifier that is not a keyword, not
  reserved, and not a name the header or its includes already use;
* :func:`check_feature_names` - names the serial protocol can send (any text but control
  characters and ``|``, see :mod:`tinygmm.names`);
* :func:`check_finite_code` - no nan/inf constant in the *code* (comments and
  string literals are not looked at, so a path under ``inf/`` is fine).
"""

from __future__ import annotations

import re

from ..errors import TinyGMMError
from ..names import check_names
from .cnames import C_LIBRARY_NAMES, C_MACRO_NAMES

_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "?": "\\?", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def c_string(s: str) -> str:
    """``s`` as a C/C++ string literal made of printable ASCII only."""
    out = []
    for ch in s:
        if ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend(f"\\{b:03o}" for b in ch.encode("utf-8", "surrogateescape"))
    return '"' + "".join(out) + '"'


def _comment_char(ch: str) -> str:
    if ch in "\n\r\t":
        return _SIMPLE_ESCAPES[ch]
    if " " <= ch <= "~":
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def c_comment(s: str) -> str:
    """``s`` made safe as the text of a ``//`` comment (on one line, that line only).

    Printable ASCII is kept as it is, so paths and names stay readable; line
    breaks, control and non-ASCII characters are shown as C escapes (``\\n``,
    ``\\xe9``, ``\\u202e``); ``??`` is written ``?\\?`` (``??/`` is a backslash
    under trigraphs); and a last backslash on the line (even with spaces after
    it, which GCC also splices) is written ``\\x5c``.
    """
    text = "".join(_comment_char(ch) for ch in s).replace("??", "?\\?")
    text = text.replace("??", "?\\?")  # "???" leaves a "??" after one pass
    stripped = text.rstrip(" ")
    if stripped.endswith("\\"):
        text = stripped[:-1] + "\\x5c" + text[len(stripped) :]
    return text


def comment_lines(lines: list[str], prefix: str = "// ") -> str:
    """Each line as a safe ``//`` comment, joined with newlines."""
    return "\n".join(prefix + c_comment(line) for line in lines)


# --------------------------------------------------------------------------
# Identifiers
# --------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_CXX_KEYWORDS = frozenset(
    _words(
        """
    alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t
    class compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield
    decltype default delete do double dynamic_cast else enum explicit export extern false float for friend
    goto if inline int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private
    protected public register reinterpret_cast requires return short signed sizeof static static_assert
    static_cast struct switch template this thread_local throw true try typedef typeid typename union
    unsigned using virtual void volatile wchar_t while xor xor_eq
    import module typeof
    """
    )
)

_MATH_FUNCTIONS = _words(
    """
    acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2 expm1 frexp ilogb ldexp
    log log10 log1p log2 logb modf scalbn scalbln cbrt fabs hypot pow sqrt erf erfc lgamma tgamma ceil
    floor nearbyint rint lrint llrint round lround llround trunc fmod remainder remquo copysign nan
    nextafter nexttoward fdim fmax fmin fma j0 j1 jn y0 y1 yn gamma drem significand finite scalb exp10
    pow10 sincos isinf isnan square
    """
)
# Names in the global namespace (functions, macros, types) once GMM.h's own
# includes are in: <math.h> (which in C++ also brings <stdlib.h>), <stdint.h>,
# <avr/pgmspace.h>; and the Arduino core the firmware includes beside it.
_GLOBAL_NAMES = frozenset(
    [f + s for f in _MATH_FUNCTIONS for s in ("", "f", "l")]
    + _words(
        """
    fpclassify isfinite isnormal signbit isgreater isgreaterequal isless islessequal islessgreater
    isunordered HUGE_VAL HUGE_VALF HUGE_VALL INFINITY NAN MAXFLOAT HUGE FP_INFINITE FP_NAN FP_NORMAL
    FP_SUBNORMAL FP_ZERO FP_FAST_FMA FP_FAST_FMAF FP_FAST_FMAL FP_ILOGB0 FP_ILOGBNAN MATH_ERRNO
    MATH_ERREXCEPT math_errhandling signgam DOMAIN SING OVERFLOW UNDERFLOW TLOSS PLOSS
    abs labs llabs div ldiv lldiv atof atoi atol atoll strtod strtof strtol strtoul rand srand random
    srandom malloc calloc realloc free abort exit atexit getenv system bsearch qsort NULL EOF errno
    assert RAND_MAX EXIT_SUCCESS EXIT_FAILURE MB_CUR_MAX SIZE_MAX memcpy memset memcmp strlen strcpy
    PROGMEM PSTR pgm_read_byte pgm_read_word pgm_read_dword pgm_read_float
    main std tinygmm golden
    HIGH LOW INPUT OUTPUT INPUT_PULLUP PI HALF_PI TWO_PI DEG_TO_RAD RAD_TO_DEG EULER SERIAL DISPLAY
    LSBFIRST MSBFIRST CHANGE FALLING RISING DEFAULT EXTERNAL INTERNAL LED_BUILTIN min max constrain
    radians degrees sq word boolean byte bit setup loop delay delayMicroseconds millis micros pinMode
    digitalWrite digitalRead analogRead analogWrite analogReference tone noTone map randomSeed yield
    interrupts noInterrupts Serial String Print Stream
    """
    )
)
_GLOBAL_PATTERNS = (
    (re.compile(r"M_\w+"), "a <math.h> constant macro"),
    (re.compile(r"U?INT(?:_LEAST|_FAST)?(?:8|16|32|64)_(?:MIN|MAX)|U?INTMAX_(?:MIN|MAX)"), "a <stdint.h> macro"),
    (
        re.compile(r"U?INTPTR_(?:MIN|MAX)|(?:PTRDIFF|SIG_ATOMIC|WCHAR|WINT)_(?:MIN|MAX)|U?INT(?:8|16|32|64|MAX)_C"),
        "a <stdint.h> macro",
    ),
    (re.compile(r"\w+_t"), "a name ending in _t (reserved for types: int8_t, size_t, ...)"),
    (re.compile(r"TINYGMM_\w*"), "a macro of the generated header"),
    (re.compile(r"B[01]{1,8}|A[0-9]{1,2}"), "an Arduino core macro or pin name"),
)
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def refused_by_rule(name: str) -> str | None:
    """Why ``name`` cannot be GMM.h's namespace, judged by rules and the hand list; None if it may."""
    if not _IDENTIFIER_RE.fullmatch(name):
        return "not an identifier"
    if name in _CXX_KEYWORDS:
        return "a C++ keyword (or a GNU or contextual one)"
    if name.startswith("_") or "__" in name:
        return "reserved for the compiler (a leading '_' or a '__')"
    if name in _GLOBAL_NAMES:
        return "a name GMM.h or its includes (<math.h>, <stdint.h>, Arduino.h) already define"
    return next((r for pattern, r in _GLOBAL_PATTERNS if pattern.fullmatch(name)), None)


def check_identifier(name: str, what: str = "--namespace") -> str:
    """``name`` if it can be a C++ namespace at global scope in GMM.h, else a TinyGMMError."""

    reason = refused_by_rule(name)
    if reason is None and name in C_LIBRARY_NAMES:
        reason = "a name the C library headers GMM.h includes already declare"
    if reason is None and name in C_MACRO_NAMES:
        reason = "a macro of the C, POSIX or Arduino headers (<limits.h>, <stdio.h>, Arduino.h, ...)"
    if reason is not None:
        raise TinyGMMError(
            f"invalid C++ namespace {name!r} for {what}: it is {reason}; choose another, e.g. 'gmm' or "
            "'sensor_model' (letters, digits and '_', starting with a letter)"
        )
    return name


def check_feature_names(names: list[str]) -> None:
    """Refuse names the device cannot hold or the serial protocol cannot send (see tinygmm.names).

    Any other Unicode text is fine: :func:`c_string` writes it as octal escapes of its UTF-8 bytes
    and :func:`c_comment` as ``\\u`` escapes, so GMM.h stays printable ASCII.
    """
    check_names(names)


# --------------------------------------------------------------------------
# The code itself: no nan/inf constants
# --------------------------------------------------------------------------

# comments, string and character literals (with their escapes), or one token
_LEX_RE = re.compile(
    r"""//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'"""
    r"""|(?P<num>\.?\d(?:[eEpP][+-]|[\w.'])*)|(?P<id>[A-Za-z_]\w*)|(?P<op>::|->|\S)""",
    re.DOTALL,
)
_NON_FINITE_NAMES = frozenset({"nan", "inf", "NAN", "INFINITY", "HUGE_VAL", "HUGE_VALF", "nanf", "inff"})
_FLOAT_RE = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[fF]?")
FLOAT32_MAX = 3.4028234663852886e38


def code_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of every token outside comments and literals: kind is num, id or op."""
    tokens = []
    for m in _LEX_RE.finditer(text):
        kind = m.lastgroup
        if kind is not None:
            tokens.append((kind, m.group()))
    return tokens


def check_finite_code(text: str) -> None:
    """Refuse C++ whose code spells a nan/inf value or a float literal beyond float32.

    Only code is looked at: comments and string literals may say anything
    (a data path under ``inf/``, a column named ``nan``). A name such as
    ``inf`` right after ``namespace`` or before ``::`` is a name, not a value.
    """
    tokens = code_tokens(text)
    for i, (kind, tok) in enumerate(tokens):
        if kind == "id" and tok in _NON_FINITE_NAMES:
            before = tokens[i - 1][1] if i else ""
            after = tokens[i + 1][1] if i + 1 < len(tokens) else ""
            if before not in ("namespace", "::", ".", "->") and after != "::":
                raise TinyGMMError("generated header would contain nan/inf constants; not written")
        elif kind == "num" and _FLOAT_RE.fullmatch(tok) and re.search(r"[.eEfF]", tok):
            value = abs(float(tok.rstrip("fF")))
            if value == float("inf") or (tok[-1] in "fF" and value > FLOAT32_MAX):
                raise TinyGMMError(f"generated header would contain a constant {tok} that is not finite; not written")
