"""ChildSpec and RestartBudgetExceeded: the vocabulary of supervision."""

from __future__ import annotations

import pytest

from revaer.errors import RevaerError
from revaer.runtime import ChildSpec, RestartBudgetExceeded
from tests.runtime.children import Child, Journal


@pytest.mark.parametrize(
    "options",
    [{"name": ""}, {"max_restarts": -1}, {"window": 0.0}, {"shutdown_timeout": -1.0}],
)
def test_nonsense_child_specs_are_rejected(options: dict[str, object]) -> None:
    fields: dict[str, object] = {"name": "a", "start": Child("a", Journal()), **options}
    with pytest.raises(ValueError, match=r"name|max_restarts"):
        ChildSpec(**fields)  # type: ignore[arg-type]


def test_restart_budget_exceeded_names_the_child() -> None:
    error = RestartBudgetExceeded("engine", max_restarts=5, window=60.0)
    assert isinstance(error, RevaerError)
    assert error.child == "engine"
    assert str(error) == "child 'engine' needed more than 5 restarts within 60 s"
