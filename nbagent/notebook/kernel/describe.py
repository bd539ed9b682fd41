"""What the kernel tools tell a model about a value: a one-line summary, or a bounded inspection.

pandas and numpy objects are recognised through the modules the user's kernel already imported
(`sys.modules`), so nbagent depends on neither. Every text is bounded, and a value whose name looks
like a secret (key, token, secret, password, ...) is never shown, only its type.
"""

from __future__ import annotations

import inspect
import re
import sys
from typing import Any

MAX_TEXT_CHARS = 1500  # one field of a result (a table's head, a repr, a sample)
MAX_SUMMARY_CHARS = 80
SAMPLE_ITEMS = 5
HEAD_ROWS = 5
MASK = "*** (hidden: the name looks like a secret)"

_SECRET_NAME = re.compile(r"key|token|secret|passw|pwd|credential|auth|cookie|session_id", re.IGNORECASE)


def looks_secret(name: str) -> bool:
    """Names like `api_key`, `GITHUB_TOKEN`, `db_password`: their values stay in the kernel."""
    return bool(_SECRET_NAME.search(name))


_SECRET_LITERAL = re.compile(
    r"""(?P<lead>\b(?P<name>[A-Za-z_]\w*)\s*(?::[^=\n]*)?=\s*"""                    # name = / name: T = / name=
    r"""|\[\s*(?P<sq>['"])(?P<subscript>[^'"\n]+)(?P=sq)\s*\]\s*=\s*"""            # ["NAME"] =
    r"""|(?P<kq>['"])(?P<key>[^'"\n]+)(?P=kq)\s*:\s*)"""                              # "name": (a dict)
    r"""(?P<prefix>[rbuRBUfF]{0,2})(?P<q>'{3}|"{3}|'|")(?P<value>.*?)(?P=q)""",        # the literal given
    re.S,
)


def mask_secret_literals(source: str) -> str:
    """Code as written, but a string literal given to a secret-looking name (`db_password = "..."`,
    `connect(api_key="...")`, `{"api_token": "..."}`, `os.environ["OPENAI_API_KEY"] = "..."`) shows as
    `***`: cell sources and tracebacks reach the model, the values typed into them must not."""

    def mask(match: re.Match[str]) -> str:
        name = match.group("name") or match.group("subscript") or match.group("key")
        if not looks_secret(name):
            return match.group(0)
        quote = match.group("q")
        return f"{match.group('lead')}{match.group('prefix')}{quote}***{quote}"

    return _SECRET_LITERAL.sub(mask, source)


def bounded(text: str, limit: int = MAX_TEXT_CHARS, *, total: int | None = None) -> str:
    """`text`, cut at `limit` characters with a note saying how much was left out (of `total`, when
    `text` is itself only the start of something longer)."""
    total = len(text) if total is None else total
    if total <= limit:
        return text
    return text[:limit] + f"\n… [cut: {total - limit:,} more characters not shown]"


def summary(value: Any) -> str:
    """A few words: `DataFrame 344 × 8`, `ndarray (3, 4) float64`, `dict, 3 keys`, `str, 1,204 chars`."""
    pandas, numpy = sys.modules.get("pandas"), sys.modules.get("numpy")
    kind = type(value).__name__
    if pandas is not None and isinstance(value, pandas.DataFrame):
        rows, columns = value.shape
        return f"DataFrame {rows:,} × {columns:,}"
    if pandas is not None and isinstance(value, pandas.Series):
        return f"Series {len(value):,} ({value.dtype})"
    if numpy is not None and isinstance(value, numpy.ndarray):
        return f"ndarray {value.shape} {value.dtype}"
    if isinstance(value, str):
        return f"str, {len(value):,} chars" if len(value) > 40 else repr(value)
    if isinstance(value, (bool, int, float, complex)) or value is None:
        return _short(repr(value))
    if isinstance(value, dict):
        return f"dict, {len(value):,} keys"
    if isinstance(value, (list, tuple, set, frozenset)):
        return f"{kind}, {len(value):,} items"
    if inspect.isfunction(value) or inspect.ismethod(value):
        return f"function{_signature(value)}"
    if inspect.isclass(value):
        return f"class {value.__name__}"
    if type(value).__module__.startswith("matplotlib.figure"):
        width, height = (value.get_size_inches() * value.dpi).astype(int)
        return f"matplotlib Figure {width}×{height} px, {len(value.axes)} axes"
    size = getattr(value, "shape", None) or _length(value)
    return f"{kind} {size}" if size is not None else kind


def inspection(value: Any) -> dict[str, Any]:
    """What a model needs to reason about a value, each field bounded."""
    pandas, numpy = sys.modules.get("pandas"), sys.modules.get("numpy")
    found: dict[str, Any] = {"summary": summary(value), "type": _type_name(value)}
    if pandas is not None and isinstance(value, pandas.DataFrame):
        found.update(shape=list(value.shape), columns=[str(column) for column in value.columns[:100]],
                     dtypes={str(column): str(dtype) for column, dtype in list(value.dtypes.items())[:100]},
                     null_counts={str(column): int(count) for column, count in value.isna().sum().items() if count},
                     head=bounded(value.head(HEAD_ROWS).to_string(max_cols=30)),
                     describe=bounded(_describe_frame(value)))
    elif pandas is not None and isinstance(value, pandas.Series):
        found.update(length=len(value), dtype=str(value.dtype), null_count=int(value.isna().sum()),
                     head=bounded(value.head(HEAD_ROWS).to_string()), describe=bounded(_describe_frame(value)))
    elif numpy is not None and isinstance(value, numpy.ndarray):
        found.update(shape=list(value.shape), dtype=str(value.dtype), sample=bounded(numpy.array2string(
            value, threshold=50, edgeitems=3)))
        if value.size and numpy.issubdtype(value.dtype, numpy.number):
            found.update(min=_number(value.min()), max=_number(value.max()), mean=_number(value.mean()))
    elif isinstance(value, dict):
        items = list(value.items())[:SAMPLE_ITEMS]
        found.update(length=len(value), sample={str(key): MASK if looks_secret(str(key)) else _short(repr(item), 200)
                                                for key, item in items})
    elif isinstance(value, (list, tuple, set, frozenset)):
        found.update(length=len(value), sample=[_short(repr(item), 200) for item in list(value)[:SAMPLE_ITEMS]])
    elif isinstance(value, str):
        found.update(length=len(value), text=bounded(value))
    else:
        found.update(repr=bounded(_safe_repr(value)), attributes=_public_attributes(value))
    return found


def _describe_frame(value: Any) -> str:
    try:
        return value.describe(include="all").to_string(max_cols=30) if hasattr(value, "columns") else value.describe().to_string()
    except (ValueError, TypeError):  # e.g. a frame with no columns
        return ""


def _public_attributes(value: Any) -> dict[str, str]:
    """Up to 30 public data attributes (not methods), each a short repr; secret-looking ones masked."""
    shown: dict[str, str] = {}
    for name in dir(value):
        if name.startswith("_") or len(shown) >= 30:
            continue
        try:
            attribute = getattr(value, name)
        except Exception:
            continue
        if callable(attribute):
            continue
        shown[name] = MASK if looks_secret(name) else _short(_safe_repr(attribute), 120)
    return shown


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a broken __repr__ must not break the tool
        return f"<{type(value).__name__}: repr failed with {type(exc).__name__}>"


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _signature(function: Any) -> str:
    try:
        return _short(str(inspect.signature(function)), 60)
    except (TypeError, ValueError):
        return "(…)"


def _length(value: Any) -> str | None:
    try:
        return f"len {len(value):,}"
    except Exception:
        return None


def _number(value: Any) -> float | int:
    return value.item() if hasattr(value, "item") else value


def _short(text: str, limit: int = MAX_SUMMARY_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
