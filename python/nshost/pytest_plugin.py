"""The pytest plugin: the ``nshost_lab`` fixture, and a failed test's lab in its report.

``lab = nshost_lab("lab.yaml")`` builds the lab in a sandbox of its own for this test
(keyword arguments go to :class:`nshost.Lab`); it is torn down after the test. When the
test fails, each of its labs' status (the table) and check results are added to the
report as sections (``nshost status: NAME`` and ``nshost check: NAME``), read before
the teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from .errors import Error
from .lab import Lab, LabSource

_LABS = pytest.StashKey[list[Lab]]()


def _describe(lab: Lab) -> list[tuple[str, str]]:
    """The report sections for a lab: its status and its checks, or why they failed."""
    name = lab.name or "(no lab applied)"
    sections = []
    for title, read in (("status", lab.status_text), ("check", lab.check_text)):
        try:
            text = read()
        except Error as e:
            text = f"{e.code}: {e.message}\n{e.report}"
        except Exception as e:  # noqa: BLE001 - a report must not hide the test's failure
            text = f"{type(e).__name__}: {e}"
        sections.append((f"nshost {title}: {name}", text))
    return sections


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for lab in item.stash.get(_LABS, []):
        if lab._session is None:
            continue
        for title, text in _describe(lab):
            report.sections.append((title, text))


@pytest.fixture
def nshost_lab(request: pytest.FixtureRequest) -> Iterator[Callable[..., Lab]]:
    """A factory of sandboxed labs for this test: ``nshost_lab("lab.yaml")`` (a path, or
    YAML text), torn down after the test."""
    labs: list[Lab] = []
    request.node.stash[_LABS] = labs

    def make(lab: LabSource | None = None, **kwargs: Any) -> Lab:
        kwargs.setdefault("sandbox", True)
        made = Lab(lab, **kwargs)
        labs.append(made)
        return made

    yield make
    errors = []
    for lab in reversed(labs):
        try:
            lab.close()
        except Error as e:
            errors.append(e)
    if errors:
        raise errors[0]
