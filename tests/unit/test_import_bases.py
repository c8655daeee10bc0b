"""Where an image import may read from, by the transport the request came in on."""

from pathlib import Path

import pytest

from stockade.api.routes.images import readable_bases
from stockade.errors import InvalidSpec

ALLOWED = (Path("/srv/stockade"),)


def test_root_on_the_unix_socket_reads_anywhere_but_still_without_links() -> None:
    assert readable_bases({"transport": "unix"}, Path("/home/x.tar"), ALLOWED) == (Path("/"),)


@pytest.mark.parametrize("peer", [{"transport": "tls"}, None, {}])
def test_everyone_else_reads_only_below_the_allowlist(peer: dict[str, str] | None) -> None:
    assert readable_bases(peer, Path("/srv/stockade/x.tar"), ALLOWED) == ALLOWED


def test_a_relative_path_is_refused_in_one_line() -> None:
    with pytest.raises(InvalidSpec, match=r"^image path x\.tar must be absolute$"):
        readable_bases({"transport": "unix"}, Path("x.tar"), ALLOWED)
