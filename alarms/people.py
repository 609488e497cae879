"""Who is paged and how: people, groups, and the :class:`TargetResolver` escalation plugs into.

A :class:`Person` lists the channels to try, in order of preference, by the names given to
configured notifiers (``sms``, ``phone``, ``mail``, ...); delivery falls back along that list.
A person may also be a place: the lab horn or a Slack room is a Person without phone or
e-mail whose channel list names the horn or webhook notifier, so an escalation tier can page
it like anyone else.

Escalation names its targets as strings, ``person:<id>`` or ``group:<id>``; a resolver turns
one into the people to page *at a given time*, so an on-call schedule (``schedule:<id>``,
a later piece) is one more resolver behind the same :meth:`TargetResolver.expand`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.core.secrets import Secret, resolve_secret

_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_PIN = re.compile(r"^[0-9]{4,12}$")


class Person(BaseModel):
    """Someone (or somewhere) to page, with channels in order of preference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = None
    """E.164, e.g. ``+4915112345678``: for SMS and voice, and to recognise replies."""
    email: str | None = None
    pin: Secret | None = None
    """Digits only (4-12): proves who acknowledges by phone or SMS."""
    pin_env: str | None = None
    pin_file: str | None = None
    channels: tuple[str, ...]
    """Notifier names, most preferred first."""
    os_users: tuple[str, ...] = ()
    """Operating-system accounts that act as this person on the command line."""

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not _E164.match(value):
            raise ValueError(f"phone '{value}' is not in E.164 form (e.g. +4915112345678)")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"'{value}' is not an e-mail address")
        return value

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(
                "list at least one notifier by its name under notifiers: (an outbox, e-mail, "
                "SMS ...): a person nobody can page cannot be on a call tree"
            )
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value

    @model_validator(mode="after")
    def _pin_ok(self) -> Person:
        pin = self.resolved_pin()
        if pin is not None and not _PIN.match(pin):
            raise ValueError("pin must be 4 to 12 digits (it is typed on a phone keypad)")
        return self

    def resolved_pin(self) -> str | None:
        """The PIN, read from its file or environment variable if so configured."""
        inline = self.pin.get_secret_value() if self.pin else None
        return resolve_secret("pin", inline, self.pin_env, self.pin_file)


class Group(BaseModel):
    """People paged together (a shift, a department); everyone in it gets the page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    name: str = Field(default="", max_length=100)
    members: tuple[str, ...] = Field(min_length=1)


class TargetResolver(Protocol):
    """Turns an escalation target (``person:x``, ``group:y``, later ``schedule:z``) into the
    people to page at ``at``, without duplicates, in a stable order."""

    def expand(self, target: str, at: datetime) -> list[Person]: ...

    def person(self, person_id: str) -> Person | None: ...


class Directory:
    """The configured people and groups, cross-checked: every member and channel exists."""

    def __init__(self, people: Iterable[Person], groups: Iterable[Group] = ()) -> None:
        self.people: dict[str, Person] = {}
        self.groups: dict[str, Group] = {}
        for person in people:
            if person.id in self.people:
                raise ValueError(f"person id '{person.id}' is used twice")
            self.people[person.id] = person
        for group in groups:
            if group.id in self.groups:
                raise ValueError(f"group id '{group.id}' is used twice")
            unknown = [m for m in group.members if m not in self.people]
            if unknown:
                raise ValueError(f"group '{group.id}': unknown person {', '.join(unknown)}")
            self.groups[group.id] = group

    def check_channels(self, notifiers: Iterable[str]) -> list[str]:
        """Problems with people's channel lists against the configured notifier names."""
        known = set(notifiers)
        return [
            f"person '{p.id}': undefined channel '{c}'"
            for p in self.people.values()
            for c in p.channels
            if c not in known
        ]

    def person(self, person_id: str) -> Person | None:
        return self.people.get(person_id)

    def expand(self, target: str, at: datetime) -> list[Person]:
        kind, _, name = target.partition(":")
        if kind == "person" and name in self.people:
            return [self.people[name]]
        if kind == "group" and name in self.groups:
            return _unique(self.people[m] for m in self.groups[name].members)
        raise KeyError(f"unknown target '{target}' (write person:<id> or group:<id>)")

    def expand_all(self, targets: Sequence[str], at: datetime) -> list[Person]:
        """Several targets of one escalation tier, each person once."""
        return _unique(p for t in targets for p in self.expand(t, at))


def _unique(people: Iterable[Person]) -> list[Person]:
    seen: dict[str, Person] = {}
    for person in people:
        seen.setdefault(person.id, person)
    return list(seen.values())


def directory_from(
    people: Sequence[Mapping[str, object]], groups: Sequence[Mapping[str, object]] = ()
) -> Directory:
    """Build from plain configuration mappings (what YAML gives)."""
    return Directory(
        [Person.model_validate(p) for p in people], [Group.model_validate(g) for g in groups]
    )
