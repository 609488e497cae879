"""People, groups and targets (alarms/people.py, to be alarms/people.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from alarms.people import Directory, Group, Person, directory_from
from tests.support.notify import T0, person


def test_person_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match=r"E\.164"):
        person(phone="0151 1234567")
    with pytest.raises(ValidationError, match="not an e-mail address"):
        person(email="alice")
    with pytest.raises(ValidationError, match="4 to 12 digits"):
        person(pin="12a4")
    with pytest.raises(ValidationError, match="listed twice"):
        person(channels=("sms", "sms"))
    with pytest.raises(ValidationError, match="list at least one notifier by its name"):
        person(channels=())
    with pytest.raises(ValidationError, match="set only one of pin, pin_env"):
        person(pin_env="X")
    pin = tmp_path / "pin"
    pin.write_text("90210\n")
    assert person(pin=None, pin_file=str(pin)).resolved_pin() == "90210"
    monkeypatch.setenv("ALICE_PIN", "1234")
    alice = person(pin=None, pin_env="ALICE_PIN")
    assert alice.resolved_pin() == "1234"
    assert "4711" not in repr(person()) and "4711" not in str(person().model_dump())


def test_directory_expands_targets() -> None:
    people = [person("alice"), person("bob"), person("carol", ("horn",), phone=None)]
    directory = Directory(people, [Group(id="night", members=("bob", "alice", "bob"))])
    assert [p.id for p in directory.expand("group:night", T0)] == ["bob", "alice"]
    assert [p.id for p in directory.expand("person:carol", T0)] == ["carol"]
    both = directory.expand_all(["person:alice", "group:night"], T0)
    assert [p.id for p in both] == ["alice", "bob"]
    with pytest.raises(KeyError, match="unknown target 'person:zoe'"):
        directory.expand("person:zoe", T0)
    with pytest.raises(KeyError):
        directory.expand("alice", T0)
    assert directory.check_channels(["sms"]) == ["person 'carol': undefined channel 'horn'"]


def test_directory_cross_checks() -> None:
    with pytest.raises(ValueError, match="unknown person zoe"):
        Directory([person("alice")], [Group(id="g", members=("alice", "zoe"))])
    with pytest.raises(ValueError, match="used twice"):
        Directory([person("alice"), person("alice")])
    built = directory_from(
        [{"id": "alice", "name": "Alice", "phone": "+4915112345678", "channels": ["sms"]}],
        [{"id": "all", "members": ["alice"]}],
    )
    assert isinstance(built.person("alice"), Person) and built.person("zoe") is None
