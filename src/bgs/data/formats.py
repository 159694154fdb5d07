"""Named column formats for triplet files, and the ``--columns`` mapping.

A format maps bgs's canonical fields to a file's column names. Required fields:
``participant, a, b, c, odd``; optional: ``response_time``, ``session``, ``trial``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bgs.errors import ConfigError

REQUIRED_FIELDS = ("participant", "a", "b", "c", "odd")
OPTIONAL_FIELDS = ("response_time", "session", "trial")
ALL_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS


@dataclass(frozen=True)
class TripletFormat:
    """How a triplet file names its columns and types its stimulus ids."""

    name: str
    columns: dict[str, str]
    id_type: str = "int"  # "int" or "str"
    description: str = ""
    extra: tuple[str, ...] = field(default=())  # columns known to the format but unused

    def column(self, canonical: str) -> str | None:
        return self.columns.get(canonical)

    def with_columns(self, mapping: dict[str, str]) -> "TripletFormat":
        return replace(self, name=f"{self.name}+columns", columns={**self.columns, **mapping})

    def with_id_type(self, id_type: str) -> "TripletFormat":
        if id_type not in ("int", "str"):
            raise ConfigError(f"--id-type must be 'int' or 'str', got {id_type!r}")
        return replace(self, id_type=id_type)


FORMATS: dict[str, TripletFormat] = {
    "default": TripletFormat(
        name="default",
        columns={"participant": "participant", "a": "a", "b": "b", "c": "c", "odd": "odd",
                 "response_time": "response_time", "session": "session", "trial": "trial"},
        description="participant, a, b, c, odd (+ optional response_time, session, trial)",
    ),
    "garcia2025": TripletFormat(
        name="garcia2025",
        columns={"participant": "participation", "a": "stim1_name", "b": "stim2_name",
                 "c": "stim3_name", "odd": "choice", "response_time": "response_time",
                 "session": "task", "trial": "trial"},
        description="Garcia & Isik 2025: participation, stim1_name, stim2_name, stim3_name, "
                    "choice, response_time, task, trial",
        extra=("catch_trial_flag", "token", "survey_code", "triplet_id"),
    ),
}


def parse_columns(spec: str | None) -> dict[str, str]:
    """Parse ``"participant=subj,a=s1,odd=choice"`` into a mapping canonical -> file column."""
    if not spec:
        return {}
    mapping: dict[str, str] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ConfigError(
                f"--columns entry {part!r} is not FIELD=COLUMN; "
                f"write e.g. --columns 'participant=subject,odd=choice'")
        key, value = (s.strip() for s in part.split("=", 1))
        if key not in ALL_FIELDS:
            raise ConfigError(
                f"--columns names unknown field {key!r}; fields are {', '.join(ALL_FIELDS)}")
        if not value:
            raise ConfigError(f"--columns gives no column name for field {key!r}")
        mapping[key] = value
    return mapping


def resolve_format(name: str | TripletFormat = "default", columns: str | dict | None = None,
                   id_type: str | None = None) -> TripletFormat:
    """The named format, with an explicit column mapping and id type applied on top."""
    if isinstance(name, TripletFormat):
        fmt = name
    else:
        try:
            fmt = FORMATS[name]
        except KeyError:
            raise ConfigError(
                f"unknown triplet format {name!r}; known formats: {', '.join(FORMATS)} "
                f"(or give --columns FIELD=COLUMN,...)") from None
    if columns:
        fmt = fmt.with_columns(parse_columns(columns) if isinstance(columns, str) else dict(columns))
    if id_type is not None:
        fmt = fmt.with_id_type(id_type)
    return fmt
