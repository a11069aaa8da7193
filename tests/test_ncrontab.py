"""Schedules are validated field by field as NCRONTAB; croniter (dev-only) cross-checks the verdicts."""
import pytest
from croniter import croniter

from checks.engine import ncrontab
from checks.engine.config import VARIABLES, ConfigError, Settings

SCHEDULES = ("VERIFY_SCHEDULE", "HEARTBEAT_SCHEDULE", "RESTORE_DRILL_SCHEDULE")

VALID = [
    "0 0 6 1 * *", "0 30 6 * * *", "0 */10 * * * *", "0 0 9-17 * * MON-FRI", "0 0 0 1 JAN,jul *",
    "5,35 0-30/15 */2 1-31/7 1-12 0-6", "59 59 23 31 12 6", "0 0 6 1 * sun", "0 0 6 * * Saturday",
    "0 0 6 1/2 * *",
]
# croniter reads these differently from NCRONTAB: full day names (NCRONTAB matches the first three
# letters), a backwards range (croniter wraps around), 7 fields (croniter's optional year), '?'
CRONITER_DIFFERS = {"0 0 6 * * Saturday", "0 0 17-9 * * *", "0 0 6 1 * * *", "0 0 6 1 * ?", "0 6 1 * *"}
INVALID = {
    "0 0 24 * * *": "hour field: 24 is out of range 0-23",
    "60 * * * * *": "second field: 60 is out of range 0-59",
    "0 0 6 0 * *": "day field: 0 is out of range 1-31",
    "0 0 6 1 13 *": "month field: 13 is out of range 1-12",
    "0 0 6 1 * 8": "day of week field: 8 is out of range 0-6",
    "0 0 6 1 FOO *": "month field: 'FOO' is not a value in 1-12 or a name (JAN, FEB",
    "0 */0 * * * *": "minute field: step /0 must be between 1 and 60",
    "0 0 17-9 * * *": "hour field: range '17-9' runs backwards",
    "0 0 6 1 * * *": "with 6 fields",
    "0 6 1 * *": "with 6 fields, e.g. '0 0 6 1 * *'",
    "0 0 6 1 * ?": "day of week field: '?' is not *, a value, a range a-b or a step */n",
    "0 0 6 ,1 * *": "day field: '' is not *",
}


@pytest.mark.parametrize("expression", VALID)
def test_valid_expressions_pass_and_croniter_agrees(expression):
    assert ncrontab.validate(f"  {expression} ") == expression
    if expression not in CRONITER_DIFFERS:
        assert croniter.is_valid(expression, second_at_beginning=True)


@pytest.mark.parametrize("expression,message", INVALID.items())
def test_invalid_expressions_name_the_field_and_what_it_allows(expression, message):
    with pytest.raises(ValueError) as caught:
        ncrontab.validate(expression)
    assert message in str(caught.value)
    if expression not in CRONITER_DIFFERS:
        assert not croniter.is_valid(expression, second_at_beginning=True), expression


def test_defaults_are_valid_for_both():
    for _, var in VARIABLES:
        if var.name in SCHEDULES:
            assert ncrontab.validate(var.default) == var.default
            assert croniter.is_valid(var.default, second_at_beginning=True)


def test_every_schedule_variable_is_validated_field_by_field_in_one_error():
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"VERIFY_SCHEDULE": "0 0 25 1 * *", "HEARTBEAT_SCHEDULE": "0 61 6 * * *",
                           "RESTORE_DRILL_SCHEDULE": "0 */10 * * * MONDAY-FOO"})
    problems = caught.value.problems
    assert set(problems) == set(SCHEDULES)
    assert "hour field: 25 is out of range 0-23 in '0 0 25 1 * *'" in problems["VERIFY_SCHEDULE"]
    assert "minute field: 61" in problems["HEARTBEAT_SCHEDULE"]
    assert "day of week field: 'FOO'" in problems["RESTORE_DRILL_SCHEDULE"]
