import pytest

from fmlcore.core.errors import InvalidInput
from fmlcore.jobs.message import InputRef, JobMessage, job_id_for
from fmlcore.jobs.options import options_from_text


def test_message_round_trips_through_json():
    msg = JobMessage.new("train", "churn", InputRef("b", "churn/x.csv", "v1"), {"target": "y"})
    again = JobMessage.from_json(msg.to_json())
    assert again == msg


def test_job_id_depends_on_every_part_of_the_input():
    base = job_id_for("train", "b", "k", "v1")
    assert base == job_id_for("train", "b", "k", "v1")
    assert len({base, job_id_for("predict", "b", "k", "v1"), job_id_for("train", "b", "k", "v2")}) == 3


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"kind": "train"}', "lacks"),
        ('{"job_id": "j", "kind": "paint", "model": "m", "input": {"bucket": "b", "key": "k"}}', "unknown job kind"),
        ('{"job_id": "j", "kind": "train", "model": "M!", "input": {"bucket": "b", "key": "k"}}', "invalid model name"),
        (
            '{"job_id": "j", "kind": "train", "model": "m", "input": {"bucket": "b", "key": "k"}, "options": {"x": 1}}',
            "unknown train option",
        ),
    ],
)
def test_bad_messages_are_rejected_with_the_reason(body, problem):
    with pytest.raises(InvalidInput, match=problem):
        JobMessage.from_json(body)


def test_metadata_options_are_typed():
    opts = options_from_text(
        "train", {"target": "y", "params": '{"eta": 0.1}', "num_boost_round": "50", "Validation-Fraction": "0.3"}
    )
    assert opts == {"target": "y", "params": {"eta": 0.1}, "num_boost_round": 50, "validation_fraction": 0.3}


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [({"params": "[1]"}, "JSON object"), ({"num_boost_round": "many"}, "must be a int"), ({"tagret": "y"}, "tagret")],
)
def test_bad_metadata_options_are_rejected(metadata, problem):
    with pytest.raises(InvalidInput, match=problem):
        options_from_text("train", metadata)


def test_a_status_record_gives_back_its_job_message():
    """Redrive rebuilds a dead-lettered job's message from its status record alone."""
    from fmlcore.jobs.message import InputRef, JobMessage
    from fmlcore.jobs.status import DEAD_LETTERED, JobRecord

    job = JobMessage.new("predict", "churn", InputRef("inference", "churn/x.csv", "v1"), {"model_version": "m1"})
    record = JobRecord.new(job).moved(DEAD_LETTERED, error={"type": "DeadLettered", "message": "x", "details": {}})
    assert JobRecord.from_dict(record.to_dict()).message() == job
