"""The pytest plugin: `nshost_lab` builds a lab for one test and tears it down; a failed
test's report carries the lab's status and check results."""

from __future__ import annotations

import os

import pytest
from conftest import topology

INNER = """
import pathlib

def test_fails(nshost_lab):
    lab = nshost_lab({lab!r})
    pathlib.Path("pid").write_text(str(lab.pid))
    assert lab.exec("web1", ["false"]).returncode == 0

def test_passes(nshost_lab):
    lab = nshost_lab({lab!r})
    assert lab.exec("web1", ["true"]).returncode == 0
    assert lab.check().passed
"""


def test_failed_test_report_has_status_and_checks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER.format(lab=str(topology("small.yaml"))))
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    # The sections come with the failure, before pytest's summary.
    failure = out[out.index("test_fails") : out.index("short test summary")]
    assert "nshost status: small" in failure
    assert "Health: ok" in failure
    assert "web1" in failure and "10.1.1.10" in failure
    assert "nshost check: small" in failure
    assert "8 passed, 0 failed" in failure
    # Only the failed test's report has them.
    assert out.count("nshost status: small") == 1, out
    pid = int((pytester.path / "pid").read_text())
    assert not os.path.exists(f"/proc/{pid}"), "the lab was torn down after the test"


def test_fixture_with_a_missing_file_errors_with_the_code(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
def test_missing(nshost_lab):
    nshost_lab("no-such-lab.yaml")
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*LabFileError*nshost::read*no-such-lab.yaml*"])


def test_plugin_is_registered_by_the_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["nshost_lab*", "*A factory of sandboxed labs*"])
