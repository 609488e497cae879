"""Typed settings for one MQTT broker connection (a coldwatch device) and for each channel
fed from it.

A channel gets its messages in one of two ways, never both:

* its own ``topic`` in the channel's ``source`` (with ``+``/``#`` if it likes), or
* a device-level entry of ``subscriptions``, where one filter serves many channels and the
  channel id is built from topic levels (``channel: "{1}.{2}"``); the channel's ``source``
  then names only the device.

How a payload becomes a value (plain number or JSON ``field``, ``map``, ``scale``/``offset``,
device ``timestamp_field``) is the same :class:`ValueSpec` in both places. Every rule that can
be checked without a broker is checked here, at load time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from drivers.base import DriverSettings, PointSettings
from drivers.mqtt.payload import Extractor, TimestampFormat, ValueType, parse_path
from drivers.mqtt.topics import Template, check_filter, check_topic
from monitor.core.durations import Duration
from monitor.core.secrets import Secret, resolve_secret

QoS = Literal[0, 1, 2]
#: mosquitto's counter of messages it threw away (queue or inflight limits), all clients.
BROKER_DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"


class ValueSpec(PointSettings):
    """How a payload becomes one value: shared by channel sources and ``subscriptions``."""

    field: str | None = None
    """JSON field path (``DS18B20.Temperature``, ``sensors[0].value``); without it the whole
    payload is the value (a plain number such as ``-80.4``)."""
    type: ValueType = "number"
    scale: float = Field(default=1.0, allow_inf_nan=False)
    offset: float = Field(default=0.0, allow_inf_nan=False)
    map: dict[str, float] | None = None
    """Text -> number, e.g. ``{OPEN: 1, CLOSED: 0}``; exact match after trimming spaces."""
    timestamp_field: str | None = None
    timestamp_format: TimestampFormat = "iso8601"
    timestamp_timezone: str | None = None
    """For ISO 8601 timestamps without a UTC offset (Tasmota sends local time)."""

    @model_validator(mode="after")
    def _consistent(self) -> ValueSpec:
        for key in ("field", "timestamp_field"):
            path = getattr(self, key)
            if path is not None:
                parse_path(path)  # ValueError names the problem
        if self.type == "text":
            if self.map is not None:
                raise ValueError("'map' turns text into numbers; it does not apply to type text")
            if self.scale != 1 or self.offset != 0:
                raise ValueError("scale and offset do not apply to type text")
        if self.map is not None:
            if not self.map:
                raise ValueError("'map' must not be empty")
            bad = [k for k, v in self.map.items() if v != v or v in (float("inf"), float("-inf"))]
            if bad:
                raise ValueError(f"'map' values must be finite numbers ({', '.join(bad)})")
        if self.timestamp_field is None and (
            self.timestamp_format != "iso8601" or self.timestamp_timezone is not None
        ):
            raise ValueError("timestamp_format and timestamp_timezone need 'timestamp_field'")
        if self.timestamp_timezone is not None:
            if self.timestamp_format != "iso8601":
                raise ValueError("timestamp_timezone only applies to timestamp_format iso8601")
            try:
                ZoneInfo(self.timestamp_timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"'{self.timestamp_timezone}' is not a time zone name (e.g. 'Europe/Berlin')"
                ) from None
        return self

    @property
    def customised(self) -> list[str]:
        """The value keys set to something else than their default (by value)."""
        fields = ValueSpec.model_fields
        return [k for k in fields if getattr(self, k) != fields[k].default]

    def extractor(self) -> Extractor:
        zone = ZoneInfo(self.timestamp_timezone) if self.timestamp_timezone else None
        return Extractor.build(
            field=self.field,
            type=self.type,
            scale=self.scale,
            offset=self.offset,
            mapping=self.map,
            timestamp_field=self.timestamp_field,
            timestamp_format=self.timestamp_format,
            timestamp_zone=zone,
        )


class MqttPoint(ValueSpec):
    """A channel's ``source``: its own topic filter, or none when a subscription feeds it."""

    topic: str | None = None

    @model_validator(mode="after")
    def _topic(self) -> MqttPoint:
        if self.topic is not None:
            check_filter(self.topic)
        return self


class Subscription(ValueSpec):
    """One filter for many channels; ``channel`` builds the id from topic levels (from 0)."""

    topic: str
    channel: str
    _template: Template | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _template_fits(self) -> Subscription:
        check_filter(self.topic)
        self._template = Template.parse(self.channel, self.topic)
        return self

    @property
    def template(self) -> Template:
        assert self._template is not None
        return self._template


class TlsSettings(BaseModel):
    """TLS to the broker. Certificates are verified unless ``insecure: true`` says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: str | None = None
    """The CA that signed the broker's certificate; without it the system's CAs are used."""
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False
    """Skip certificate and host name verification. Only for a test bench."""

    @model_validator(mode="after")
    def _files(self) -> TlsSettings:
        for key in ("ca_file", "cert_file", "key_file"):
            name = getattr(self, key)
            if name is not None and not Path(name).is_file():
                raise ValueError(f"tls.{key} '{name}' is not a readable file")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a client certificate needs both tls.cert_file and tls.key_file")
        if self.insecure and self.ca_file is not None:
            raise ValueError(
                "tls.insecure: true verifies nothing, so tls.ca_file would be ignored; "
                "remove one of them"
            )
        return self


class MqttSettings(DriverSettings):
    """One broker connection: where, who, how reliably, and what to subscribe to."""

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    """Default 1883, or 8883 with ``tls``."""
    client_id: str | None = Field(default=None, min_length=1, max_length=256)
    clean_session: bool = False
    username: str | None = None
    password: Secret | None = None
    password_env: str | None = None
    password_file: str | None = None
    tls: TlsSettings | None = None
    keepalive: Duration = Field(default=30.0, ge=5, le=65535)
    qos: QoS = 1

    status_topic: str | None = None
    status_online: str = Field(default="online", min_length=1)
    status_offline: str = Field(default="offline", min_length=1)

    subscriptions: tuple[Subscription, ...] = ()

    accept_retained: bool = True
    max_payload_bytes: int = Field(default=64 * 1024, ge=64, le=16 * 1024 * 1024)
    max_queued_incoming_messages: int = Field(default=10_000, ge=10, le=1_000_000)
    max_queued_incoming_bytes: int = Field(
        default=16 * 1024 * 1024, ge=64 * 1024, le=1024 * 1024 * 1024
    )
    max_backfill: Duration = 3600.0
    max_future_skew: Duration = 30.0
    late_after: Duration = Field(default=60.0, gt=0)
    watch_broker_drops: bool = False

    @model_validator(mode="before")
    @classmethod
    def _no_verify_key(cls, data: Any) -> Any:
        tls = data.get("tls") if isinstance(data, dict) else None
        if isinstance(tls, dict) and "verify" in tls:
            raise ValueError(
                "tls.verify is not a key: certificates are always verified; to turn that "
                "off on a test bench write 'insecure: true'"
            )
        return data

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        if not self.clean_session and not self.client_id:
            raise ValueError(
                "a persistent session (clean_session: false, the default) is found again by "
                "its client id: set client_id to a name unique on this broker, e.g. "
                "coldwatch-<site>-<device>, or set clean_session: true"
            )
        secret = self.password.get_secret_value() if self.password else None
        resolve_secret("password", secret, self.password_env, self.password_file)
        if self.username is None and (secret or self.password_env or self.password_file):
            raise ValueError("a password needs a 'username'")
        if self.status_topic is not None:
            check_topic(self.status_topic)
        if self.status_online == self.status_offline:
            raise ValueError("status_online and status_offline must differ")
        if self.max_queued_incoming_bytes < self.max_payload_bytes:
            raise ValueError(
                "max_queued_incoming_bytes must be at least max_payload_bytes, or a message "
                "of the allowed size could never be queued"
            )
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 8883 if self.tls is not None else 1883

    @property
    def where(self) -> str:
        return f"{self.host}:{self.effective_port}"

    def resolved_password(self) -> str | None:
        """Read at every connect, so that a rotated password file is picked up."""
        secret = self.password.get_secret_value() if self.password else None
        return resolve_secret("password", secret, self.password_env, self.password_file)
