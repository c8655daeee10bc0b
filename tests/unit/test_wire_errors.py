"""An engine error crosses the API and comes back out of the client as the same class."""

import pytest

from stockade.api.errors import body, classify
from stockade.client.errors import from_body
from stockade.errors import WIRE_KINDS, StockadeError


@pytest.mark.parametrize("cls", [cls for cls, _, _ in WIRE_KINDS] + [StockadeError])
def test_every_error_the_daemon_sends_comes_back_as_its_own_class(
        cls: type[StockadeError]) -> None:
    kind, status = classify(cls("it went wrong"))
    again = from_body(status, body(kind, "it went wrong"))
    assert type(again) is cls and str(again) == "it went wrong"
