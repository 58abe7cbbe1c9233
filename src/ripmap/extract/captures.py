"""What a tags query's captures mean, worked out once per query.

A capture named ``definition.X``/``reference.X`` (or ``name.definition.X``) gives a
match its role and kind; ``@ignore`` and ``@local`` are side captures. Most matches of
every query are plain references (calls, type uses) that need only the name node's
span: the patterns that qualify are found once from the query's capture quantifiers,
so the per-match work is a dictionary lookup.
"""
from __future__ import annotations

from .nodes import GENERIC_NAME_TYPES
from .tags import normalize_kind

_ROLES: dict[str, tuple[bool, str] | None] = {}


def _role(capture: str) -> tuple[bool, str] | None:
    """``definition.class`` → (True, "class"); ``reference.call`` → (False, "call")."""
    r = _ROLES.get(capture, False)
    if r is not False:
        return r
    r = None
    if capture.startswith("definition."):
        r = True, normalize_kind(capture[11:])
    elif capture.startswith("reference."):
        r = False, normalize_kind(capture[10:])
    elif capture.startswith("name.definition."):
        r = True, normalize_kind(capture[16:])
    elif capture.startswith("name.reference."):
        r = False, normalize_kind(capture[15:])
    _ROLES[capture] = r
    return r


_SIDE_CAPTURES: dict[int, tuple[object, bool]] = {}


def has_side_captures(query) -> bool:
    """Whether a query has @ignore or @local captures (looked up once per query)."""
    hit = _SIDE_CAPTURES.get(id(query))
    if hit is None or hit[0] is not query:
        names = {query.capture_name(i) for i in range(query.capture_count)}
        hit = _SIDE_CAPTURES[id(query)] = (query, bool(names & {"ignore", "local"}))
    return hit[1]


def pattern_info(caps: dict) -> tuple:
    """(role capture name, (is_def, kind), capture-is-the-name) of one match's captures."""
    for cname in caps:
        r = _role(cname)
        if r is not None:
            return cname, r, cname.startswith("name.")
    return None, None, False


def fast_ref_patterns(query) -> dict[int, tuple[str, str]]:
    """Pattern index → (name capture, kind) for the reference patterns whose matches
    need nothing but the name node's span. Most matches of every query (calls, type
    uses) take this path, around the general per-match logic.

    A pattern qualifies when its only role capture is a reference other than an
    import, and the name capture is required in it (read from the query's capture
    quantifiers, so an optional capture never sends a match down the wrong path).
    """
    hit = _FAST_REFS.get(id(query))
    if hit is not None and hit[0] is query:
        return hit[1]
    out: dict[int, tuple[str, str]] = {}
    if not has_side_captures(query):
        names = [query.capture_name(i) for i in range(query.capture_count)]
        for pi in range(query.pattern_count):
            present = {}
            for ci, cname in enumerate(names):
                q = _quantifier(query, pi, ci)
                if q is not None:
                    present[cname] = q
            roles = [(c, _role(c)) for c in present if _role(c) is not None]
            if len(roles) != 1:
                continue
            cname, (is_def, kind) = roles[0]
            if is_def or kind == "import":
                continue
            name_cap = cname if cname.startswith("name.") else "name"
            if present.get(name_cap) in ("", "+") and present.get(cname) in ("", "+"):
                out[pi] = (name_cap, kind)
    _FAST_REFS[id(query)] = (query, out)
    return out


_FAST_REFS: dict[int, tuple[object, dict]] = {}


def _quantifier(query, pattern: int, capture: int) -> str | None:
    """A capture's quantifier in a pattern ("" one, "?", "*", "+"), or None when the
    pattern does not use it (the bindings raise for that case)."""
    try:
        q = query.capture_quantifier(pattern, capture)
    except Exception:
        return None
    return q if q in ("", "?", "*", "+") else None


def generic_ids(language) -> frozenset[int]:
    """Node kind ids whose reference name is an inner identifier (see ref_name_node).

    Remembered per language object, which the entry holds: a freed object's id can come
    back as another grammar's (a test's fresh grammars did), and the kind ids of one
    grammar sent another's generic names (``Base<Item>``) down the fast path whole."""
    hit = _GENERIC_IDS.get(id(language))
    if hit is not None and hit[0] is language:
        return hit[1]
    ids = set()
    for t in GENERIC_NAME_TYPES | {"qualified_identifier"}:
        for named in (True, False):
            i = language.id_for_node_kind(t, named)
            if i:
                ids.add(i)
    got = frozenset(ids)
    _GENERIC_IDS[id(language)] = (language, got)
    return got


_GENERIC_IDS: dict[int, tuple[object, frozenset[int]]] = {}
