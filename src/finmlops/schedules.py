"""Schedule expressions as EventBridge Scheduler and EventBridge accept them: `rate(...)` and
`cron(...)`, checked field by field so that a bad expression fails at config load rather than
at `cdk deploy` (CreateSchedule answers ValidationException).

The rules, from AWS's pages:
- EventBridge Scheduler User Guide, "Schedule types on EventBridge Scheduler"
  (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html), which refers to
  - EventBridge User Guide, "Cron expressions reference" and "Rate expressions reference"
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html,
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html).

rate(value unit): value a positive integer; unit minute|minutes|hour|hours|day|days, singular
for 1 and plural otherwise ("rate(1 hours) and rate(5 hour) aren't valid").

cron(minutes hours day-of-month month day-of-week year): six fields separated by white space.

| field        | values              | wildcards      |
|--------------|---------------------|----------------|
| minutes      | 0-59                | , - * /        |
| hours        | 0-23                | , - * /        |
| day-of-month | 1-31                | , - * ? / L W  |
| month        | 1-12 or JAN-DEC     | , - * /        |
| day-of-week  | 1-7 or SUN-SAT      | , - * ? L #    |
| year         | 1970-2199           | , - * /        |

- day-of-month and day-of-week cannot both be given: one of them is `?`, and not both.
- `L` in day-of-month is the last day of the month; in day-of-week, `L` alone is the last day of
  the week and `nL` the last such weekday of the month.
- `nW` in day-of-month is the weekday nearest day n.
- `n#k` in day-of-week is the k-th such weekday of the month; a field with `#` holds that one
  expression only ("3#1,6#3" is invalid).

Where the pages are silent this checker is stricter, and says so in its message: a range goes
upward (`a-b` with a <= b), `W` and `L` stand alone (not in lists or ranges), a step is at
least 1 and at most the field's span.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

_RATE = re.compile(r"^rate\(\s*(\S+)\s+(\S+)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute", "hour", "day"}
_INTEGER = re.compile(r"^[0-9]+$")

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    question: bool = False  # `?` allowed


_FIELDS = (
    _Field("minutes", 0, 59),
    _Field("hours", 0, 23),
    _Field("day-of-month", 1, 31, question=True),
    _Field("month", 1, 12, MONTHS),
    _Field("day-of-week", 1, 7, DAYS, question=True),
    _Field("year", 1970, 2199),
)


class ScheduleError(ValueError):
    """An expression EventBridge Scheduler would refuse; the message says which part and why."""


def check_schedule(expression: str) -> str:
    """The expression, stripped, when valid; raises ScheduleError naming the offending part."""
    text = expression.strip()
    if text.startswith("rate("):
        _check_rate(text)
    elif text.startswith("cron("):
        _check_cron(text)
    else:
        raise ScheduleError(
            f"{expression!r} is not a schedule expression: use rate(N unit) or "
            "cron(minutes hours day-of-month month day-of-week year)"
        )
    return text


def _check_rate(text: str) -> None:
    match = _RATE.match(text)
    if not match:
        raise ScheduleError(f"{text!r}: a rate expression is rate(value unit)")
    value, unit = match.groups()
    if not (value.isascii() and _INTEGER.match(value)) or int(value) < 1:
        raise ScheduleError(f"{text!r}: the rate value must be a positive integer")
    singular = unit.removesuffix("s")
    if singular not in _UNITS:
        raise ScheduleError(f"{text!r}: the unit is one of minute(s), hour(s), day(s)")
    wanted = singular if int(value) == 1 else f"{singular}s"
    if unit != wanted:
        raise ScheduleError(
            f"{text!r}: with value {value} the unit is {wanted!r} (singular for 1, plural otherwise)"
        )


def _check_cron(text: str) -> None:
    match = _CRON.match(text)
    if not match:
        raise ScheduleError(f"{text!r}: a cron expression is cron(fields), nothing after it")
    parts = match.group(1).split()
    if len(parts) != len(_FIELDS):
        raise ScheduleError(
            f"{text!r}: a cron expression has six fields "
            "(minutes hours day-of-month month day-of-week year), found "
            f"{len(parts)}"
        )
    for field, value in zip(_FIELDS, parts, strict=True):
        problem = _field_problem(field, value.upper())
        if problem:
            raise ScheduleError(f"{text!r}: {field.name} {value!r}: {problem}")
    day_of_month, day_of_week = parts[2], parts[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleError(
            f"{text!r}: exactly one of day-of-month ({day_of_month!r}) and day-of-week "
            f"({day_of_week!r}) must be '?': they cannot both be given"
        )


def _field_problem(field: _Field, value: str) -> str | None:
    if value == "?":
        return None if field.question else "'?' is allowed only in day-of-month and day-of-week"
    if "?" in value:
        return "'?' stands alone"
    if field.name == "day-of-week" and "#" in value:
        return _hash_problem(field, value)
    items = value.split(",")
    for item in items:
        if not item:
            return "an empty list item"
        if _is_special(field, item):
            problem = _special_problem(field, item, listed=len(items) > 1)
        else:
            problem = _item_problem(field, item)
        if problem:
            return problem
    return None


def _is_special(field: _Field, item: str) -> bool:
    """An L or W form (no day name has an L; WED has a W, so W counts in day-of-month only)."""
    if field.name == "day-of-month":
        return "L" in item or "W" in item
    return field.name == "day-of-week" and "L" in item


def _special_problem(  # noqa: PLR0911 - one return a rule
    field: _Field, item: str, *, listed: bool
) -> str | None:
    """An L or W form: None when valid, else the reason."""
    if field.name == "day-of-month":
        if listed:
            return "'L' and 'W' stand alone, not in a list"
        if item == "L":
            return None
        if item.endswith("W") and _INTEGER.match(item[:-1]):
            return _bounded(field, int(item[:-1]))
        return "use 'L' (last day of the month) or 'nW' (weekday nearest day n)"
    if listed:
        return "'L' stands alone, not in a list"
    if item == "L":
        return None
    if item.endswith("L"):
        day = _value(field, item[:-1])
        return None if day is not None else f"{item[:-1]!r} is not a day of the week (1-7, SUN-SAT)"
    return "use 'L' (last day of the week) or 'nL' (last such weekday of the month)"


def _hash_problem(field: _Field, value: str) -> str | None:
    if "," in value:
        return "a field with '#' holds that one expression only (e.g. '3#2')"
    day, _, nth = value.partition("#")
    if _value(field, day) is None:
        return f"{day!r} is not a day of the week (1-7, SUN-SAT)"
    if not _INTEGER.match(nth) or not 1 <= int(nth) <= 5:
        return "the week of the month after '#' is 1-5"
    return None


def _item_problem(field: _Field, item: str) -> str | None:  # noqa: PLR0911 - one return a rule
    base, slash, step = item.partition("/")
    if slash:
        if field.name == "day-of-week":
            return "'/' is not allowed in day-of-week"
        if not _INTEGER.match(step) or not 1 <= int(step) <= field.high - field.low + 1:
            return f"the step after '/' is an integer from 1 to {field.high - field.low + 1}"
    if base == "*":
        return None
    low, dash, high = base.partition("-")
    start = _value(field, low)
    if start is None:
        return f"{low!r} is not a value of {field.name} ({_span(field)})"
    if not dash:
        return None
    if slash and not high:
        return "a range needs its end"
    end = _value(field, high)
    if end is None:
        return f"{high!r} is not a value of {field.name} ({_span(field)})"
    if end < start:
        return f"the range {base!r} runs backwards: write ranges upward (a-b with a <= b)"
    return None


def _value(field: _Field, text: str) -> int | None:
    if field.names and text in field.names:
        return field.names.index(text) + 1
    if text.isascii() and _INTEGER.match(text) and field.low <= int(text) <= field.high:
        return int(text)
    return None


def _bounded(field: _Field, value: int) -> str | None:
    return None if field.low <= value <= field.high else f"{value} is outside {_span(field)}"


def _span(field: _Field) -> str:
    names = f" or {field.names[0]}-{field.names[-1]}" if field.names else ""
    return f"{field.low}-{field.high}{names}"


# SageMaker API Reference, ScheduleConfig.ScheduleExpression (and the Developer Guide page
# model-monitor-schedule-expression): Model Monitor takes only hourly `cron(0 * ? * * *)`, daily
# `cron(0 [00-23] ? * * *)` and every-n-hours `cron(0 [00-23]/[01-24] ? * * *)`. The config's
# day-of-month `*` with day-of-week `?` is the same schedule, swapped by the CDK
# (finmlops_cdk.monitoring.model_monitor_cron).
_MODEL_MONITOR = re.compile(
    r"^cron\(0 (\*|[01]?[0-9]|2[0-3]|([01]?[0-9]|2[0-3])/([1-9]|1[0-9]|2[0-4])) "
    r"(\? \* \*|\* \* \?) \*\)$"
)


def check_model_monitor_schedule(expression: str) -> str:
    """The expression when SageMaker Model Monitor accepts it; ScheduleError otherwise."""
    text = check_schedule(expression)
    if not _MODEL_MONITOR.match(" ".join(text.split())):
        raise ScheduleError(
            f"{text!r}: Model Monitor takes only cron(0 * ? * * *) (hourly), cron(0 H ? * * *) "
            "(daily at hour H) or cron(0 H/N ? * * *) (every N hours)"
        )
    return text


__all__ = ["DAYS", "MONTHS", "ScheduleError", "check_model_monitor_schedule", "check_schedule"]


_RATE_MINUTES = {"minute": 1, "hour": 60, "day": 1440}


def _values(field: _Field, text: str) -> set[int]:
    """The values a checked minutes or hours field matches (`*`, lists, ranges, steps)."""
    found: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            low, high = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = int(first), int(last)
        else:
            low = int(base)
            high = field.high if step_text else low
        found.update(range(low, high + 1, step))
    return found


def longest_gap_minutes(expression: str) -> int | None:
    """The longest time between two runs of a valid schedule, in minutes, or None when this
    function does not bound it: a cron expression that restricts days, months or years (its gap
    depends on the calendar). A tier's monitoring bound refuses None (`config`)."""
    text = check_schedule(expression)
    rate = _RATE.match(text)
    if rate:
        return int(rate.group(1)) * _RATE_MINUTES[rate.group(2).rstrip("s")]
    cron = _CRON.match(text)
    assert cron is not None  # check_schedule accepted it
    minutes, hours, day, month, weekday, year = cron.group(1).split()
    if day not in {"*", "?"} or weekday not in {"*", "?"} or month != "*" or year != "*":
        return None
    times = sorted(
        h * 60 + m for h in _values(_FIELDS[1], hours) for m in _values(_FIELDS[0], minutes)
    )
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return max([*gaps, times[0] + 1440 - times[-1]])
