import copy
import importlib.util
from pathlib import Path

import pytest

from contracts import COMPLETION_KEYS, ROUTING_KEYS, ContractError, UnknownRoutingKey, schema_for, validate

_spec = importlib.util.spec_from_file_location("contract_examples", Path(__file__).with_name("examples.py"))
_examples_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_examples_mod)
EXAMPLES = _examples_mod.valid_examples()

# SPEC §3, spelled out here on purpose: the registry must cover every one of them.
SPEC_KEYS = {
    "products.collect.request", "videos.search.request", "match.request",
    "products.image.ready", "video.keyframes.ready", "products.image.masked", "video.keyframes.masked",
    "image.embedding.ready", "video.embedding.ready", "image.keypoint.ready", "video.keypoint.ready",
    "match.result",
    "products.images.ready.batch", "video.keyframes.ready.batch",
    "products.images.masked.batch", "video.keyframes.masked.batch",
    "products.collections.completed", "videos.collections.completed",
    "image.embeddings.completed", "video.embeddings.completed",
    "image.keypoints.completed", "video.keypoints.completed",
    "matchings.process.completed", "evidences.generation.completed",
}


def test_every_spec_routing_key_has_a_schema():
    assert SPEC_KEYS <= ROUTING_KEYS
    assert set(EXAMPLES) == ROUTING_KEYS, "every registered schema needs a valid example in this test"


def test_completion_keys_are_the_eight_of_the_spec():
    assert COMPLETION_KEYS == {k for k in SPEC_KEYS if k.endswith(".completed")}


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_valid_payload_passes(key):
    validate(key, EXAMPLES[key])


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_every_required_field_is_enforced_and_named(key):
    for field in schema_for(key)["required"]:
        payload = copy.deepcopy(EXAMPLES[key])
        del payload[field]
        with pytest.raises(ContractError) as err:
            validate(key, payload)
        assert err.value.routing_key == key
        assert err.value.field == field
        assert key in str(err.value) and field in str(err.value)


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_bad_event_id_and_job_id_are_rejected(key):
    for field, bad in [("event_id", "not-a-uuid"), ("job_id", ""), ("job_id", "../../etc"), ("event_id", 42)]:
        payload = dict(EXAMPLES[key], **{field: bad})
        with pytest.raises(ContractError) as err:
            validate(key, payload)
        assert err.value.field == field


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_wrong_type_of_each_field_is_rejected(key):
    props = schema_for(key)["properties"]
    for field in props:
        if field not in EXAMPLES[key]:
            continue
        payload = copy.deepcopy(EXAMPLES[key])
        payload[field] = {"unexpected": "object"}
        with pytest.raises(ContractError) as err:
            validate(key, payload)
        assert err.value.field.split(".")[0] == field


@pytest.mark.parametrize("key", sorted(COMPLETION_KEYS))
def test_completion_events_carry_exactly_job_id_and_event_id(key):
    assert set(schema_for(key)["properties"]) == {"event_id", "job_id"}
    with pytest.raises(ContractError, match="unexpected"):
        validate(key, dict(EXAMPLES[key], total=3))


def test_nested_field_path_is_named():
    payload = copy.deepcopy(EXAMPLES["match.result"])
    payload["best_pair"]["score_pair"] = 1.7
    with pytest.raises(ContractError) as err:
        validate("match.result", payload)
    assert err.value.field == "best_pair.score_pair"

    payload = copy.deepcopy(EXAMPLES["video.keyframes.ready"])
    payload["frames"][0]["ts"] = -1
    with pytest.raises(ContractError) as err:
        validate("video.keyframes.ready", payload)
    assert err.value.field == "frames.0.ts"


@pytest.mark.parametrize("path", ["/etc/passwd", "../secret.jpg", "products/../../x.jpg", ""])
def test_paths_must_stay_under_data_root(path):
    payload = dict(EXAMPLES["products.image.ready"], local_path=path)
    with pytest.raises(ContractError) as err:
        validate("products.image.ready", payload)
    assert err.value.field == "local_path"


def test_negative_counts_and_unknown_platforms_are_rejected():
    with pytest.raises(ContractError):
        validate("products.images.ready.batch", dict(EXAMPLES["products.images.ready.batch"], total_images=-1))
    with pytest.raises(ContractError) as err:
        validate("videos.search.request", dict(EXAMPLES["videos.search.request"], platforms=["tiktok"]))
    assert err.value.field == "platforms.0"


def test_unknown_routing_key_is_an_error():
    with pytest.raises(UnknownRoutingKey):
        validate("products.image.readyy", EXAMPLES["products.image.ready"])


def test_segments_and_shot_bounds_are_optional_and_checked():
    """A SPEC producer without them stays valid; when present they are validated field by field."""
    result = copy.deepcopy(EXAMPLES["match.result"])
    validate("match.result", result)  # no segments
    result["segments"] = [{"start": 10.0, "end": 14.5, "best_ts": 12.2, "score": 0.91},
                          {"start": 80.0, "end": 81.0, "best_ts": 80.4, "score": 0.6}]
    validate("match.result", result)
    result["segments"][1]["score"] = 1.5
    with pytest.raises(ContractError) as err:
        validate("match.result", result)
    assert err.value.field == "segments.1.score"
    del result["segments"][1]["score"]
    with pytest.raises(ContractError):
        validate("match.result", result)

    ready = copy.deepcopy(EXAMPLES["video.keyframes.ready"])
    ready["frames"][0].update(shot_start=1.0, shot_end=3.2)
    validate("video.keyframes.ready", ready)
    ready["frames"][0]["shot_end"] = "late"
    with pytest.raises(ContractError) as err:
        validate("video.keyframes.ready", ready)
    assert err.value.field == "frames.0.shot_end"
