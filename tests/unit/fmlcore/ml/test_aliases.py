"""AliasStore over an in-memory S3 with S3's conditional writes: moves are conditional on what was read."""

import json

import pytest

from fmlcore.core.errors import InvalidInput, NotFound
from fmlcore.core.layout import alias_key
from fmlcore.ml.aliases import AliasConflict, AliasStore
from tests.unit.fakes import FakeS3

BUCKET, MODEL = "models", "churn"
BY = {"job_id": "train-1"}


@pytest.fixture
def s3() -> FakeS3:
    return FakeS3()


@pytest.fixture
def aliases(s3) -> AliasStore:
    return AliasStore(s3, BUCKET)


def test_a_move_records_where_from_by_whom_and_why(s3, aliases):
    assert aliases.get(MODEL, "live") is None
    first = aliases.move(MODEL, "live", "v1", BY, "first")
    second = aliases.move(MODEL, "live", "v2", {"request_id": "r"}, "by hand")
    assert (first.previous_version, second.previous_version) == (None, "v1")
    stored = s3.body(BUCKET, alias_key(MODEL, "live"))
    assert stored["version"] == "v2" and stored["by"] == {"request_id": "r"} and stored["reason"] == "by hand"
    assert stored["moved_at"].endswith("Z") and "etag" not in stored
    assert aliases.version_of(MODEL, "live") == "v2"


def test_a_move_decided_on_a_stale_read_is_refused(aliases):
    aliases.move(MODEL, "live", "v1", BY, "first")
    read = aliases.get(MODEL, "live")
    aliases.move(MODEL, "live", "v2", BY, "someone else, meanwhile")
    with pytest.raises(AliasConflict, match="moved meanwhile"):
        aliases.move(MODEL, "live", "v3", BY, "decided on v1", expected=read)
    assert aliases.version_of(MODEL, "live") == "v2"
    # positive control: the same move on a fresh read goes through
    assert aliases.move(MODEL, "live", "v3", BY, "decided on v2", expected=aliases.get(MODEL, "live")).version == "v3"


def test_creating_an_alias_that_appeared_meanwhile_is_refused(aliases):
    aliases.move(MODEL, "live", "v1", BY, "another trainer was first")
    with pytest.raises(AliasConflict):
        aliases.move(MODEL, "live", "v2", BY, "I saw no live", expected=None)


def test_all_lists_each_alias_once_and_remove_keeps_the_rest(s3, aliases):
    aliases.move(MODEL, "live", "v1", BY, "x")
    aliases.move(MODEL, "shadow", "v2", BY, "x")
    aliases.move("other", "live", "v9", BY, "x")
    s3.put_object(Bucket=BUCKET, Key=f"{MODEL}/aliases/notes.txt", Body=b"not an alias")
    assert aliases.all(MODEL) == {"live": "v1", "shadow": "v2"}
    assert aliases.remove(MODEL, "shadow").version == "v2"
    assert aliases.all(MODEL) == {"live": "v1"}
    with pytest.raises(NotFound, match="no alias 'shadow'"):
        aliases.remove(MODEL, "shadow")


@pytest.mark.parametrize("bad", ["Live", "", "1st", "a/b", "x" * 33, "../live"])
def test_alias_names_are_checked_before_any_call(s3, aliases, bad):
    with pytest.raises(InvalidInput, match="invalid alias"):
        aliases.move(MODEL, bad, "v1", BY, "x")
    assert s3.calls == []


def test_the_record_is_plain_json_a_user_can_read(s3, aliases):
    aliases.move(MODEL, "live", "v1", BY, "x")
    raw = s3.objects[(BUCKET, alias_key(MODEL, "live"))][0]
    assert set(json.loads(raw)) == {"model", "alias", "version", "previous_version", "moved_at", "by", "reason"}
