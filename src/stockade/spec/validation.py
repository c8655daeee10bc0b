"""pydantic's validation errors as the one line a caller reads."""

from collections.abc import Mapping, Sequence
from typing import Any


def first_error(errors: Sequence[Mapping[str, Any]], located: str = "{where}: {message}",
                skip: tuple[str, ...] = ()) -> str:
    """The first error: `located` filled in when it names a field (path parts in `skip`
    left out), else its bare message; never pydantic's "Value error, " prefix."""
    first: Mapping[str, Any] = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in skip)
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    return located.format(where=where, message=message) if where else message
