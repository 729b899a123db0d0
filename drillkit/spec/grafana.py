"""Where drills post their annotations: a Grafana server, its token only from the environment.

>>> spec = GrafanaSpec(url="https://grafana.example.com", token_env="GRAFANA_TOKEN")
>>> spec.dashboard_uid, spec.tags, spec.timeout_s
('drillkit', ('drillkit',), 5.0)
>>> GrafanaSpec(url="https://admin:secret@grafana.example.com", token_env="GRAFANA_TOKEN")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for GrafanaSpec...
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from drillkit.spec.loader import Spec
from drillkit.spec.safe import SafePath, SafeText

_ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"  # the name of an environment variable
# A tag is matched by the dashboard's annotation query and shown as a chip: one short word.
Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/=-]{0,49}$")]


class GrafanaSpec(Spec):
    """A Grafana server that drills annotate (credentials only from the environment)."""

    url: SafeText = Field(pattern=r"^https?://[^@/\s]+(/\S*)?$",
                          description="the Grafana URL (http[s]://host[:port][/path], no credentials)")  # fmt: skip
    token_env: str = Field(pattern=_ENV_VAR, description="environment variable holding a Grafana service-account token")
    dashboard_uid: str | None = Field("drillkit", pattern=r"^[A-Za-z0-9_-]{1,40}$",
                                      description="uid of the dashboard the annotations belong to "
                                                  "(empty: organization annotations, shown wherever their tags are queried)")  # fmt: skip
    tags: tuple[Tag, ...] = Field(("drillkit",), max_length=10,
                                  description="tags of every annotation; the committed dashboard shows those tagged drillkit")  # fmt: skip
    verify_tls: bool = Field(True, description="verify the server's TLS certificate (turn off only for a lab)")
    ca_file: SafePath | None = Field(None, description="CA bundle to verify the server with")
    timeout_s: float = Field(5.0, gt=0, le=60, description="timeout of one request, seconds (a drill never waits long on Grafana)")
    credentials_over_http: bool = Field(
        False, description="send the token to a non-loopback http:// Grafana (a lab only)"
    )

    @field_validator("tags")
    @classmethod
    def _distinct_tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        doubled = sorted({t for t in tags if tags.count(t) > 1})
        if doubled:
            raise ValueError(f"tag {doubled[0]!r} is given twice; give each tag once")
        return tags

    @field_validator("url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        # `{url}/api/annotations` must not become `//api/...`, which a reverse proxy may not route
        return url.rstrip("/")
