"""One fault's figures, and the line the suite prints for it.

A fault test measures against the peers (what the Modbus server served, what the MQTT
publisher got a PUBACK for, the outbox's lines) and hands one :class:`FaultResult` to the
``fault_report`` fixture (``tests/faults/conftest.py``), which files it with the test's report
and then asserts it: nothing lost, nothing crashed. Duplicates are the documented
at-least-once price of a crash: counted and shown, never failed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The name under which a result travels in a test report's ``user_properties`` (which
#: pytest-xdist carries from its workers to the process that prints the summary).
PROPERTY = "coldwatch_fault"
#: Set on every test that uses ``fault_report``: it is a fault, and gets a line.
EXPECTED = "coldwatch_fault_test"


@dataclass(frozen=True)
class FaultResult:
    """What one fault cost, counted against the peers."""

    fault: str
    readings_lost: int
    """Due polls (or acknowledged messages) with neither a value row nor a bad-quality row."""
    pages_lost: int
    """Pages the escalator decided on that no delivery attempt brought to the peer."""
    pages_duplicated: int
    """Extra copies of a page at the peer (at-least-once after a crash: allowed)."""
    crashes: int
    """Daemon exits nobody asked for, bad exit statuses, tracebacks in its log."""
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.readings_lost == 0 and self.pages_lost == 0 and self.crashes == 0

    def line(self, outcome: str = "") -> str:
        verdict = outcome or ("ok" if self.ok else "FAILED")
        text = (
            f"{self.fault:<45} readings lost {self.readings_lost:>3}  "
            f"pages lost {self.pages_lost:>2}  pages duplicated {self.pages_duplicated:>2}  "
            f"crashes {self.crashes}  {verdict}"
        )
        return f"{text}  ({self.note})" if self.note else text

    def as_property(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_property(cls, value: dict[str, Any]) -> FaultResult:
        return cls(**value)


def assert_no_loss(result: FaultResult) -> None:
    """The fault suite's rule: 0 readings lost, 0 pages lost, 0 crashes."""
    assert result.ok, f"fault cost something: {result.line()}"
