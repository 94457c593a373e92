"""Tests for dgtools.options: the option table, validation, encoding and concurrency limits."""

from __future__ import annotations

import pickle
import re
from typing import Any

import pytest
from conftest import SPECS, missing

from dgtools.exceptions import ConfigError
from dgtools.options import OPTIONS, ListenOptions, OptionSpec, default_concurrency, validate_query

SPEC = SPECS / "deepgram-openapi.yml"


# --- The option table against Deepgram's OpenAPI spec ------------------------------------------------------


def _listen_query_schemas() -> dict[str, dict[str, Any]]:
    """Query parameter name -> fully resolved schema of POST /v1/listen."""
    if not SPEC.is_file():
        missing("spec", f"Deepgram OpenAPI spec not found at {SPEC}")
    import yaml  # the test extra installs pyyaml

    doc = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    schemas = doc["components"]["schemas"]

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = resolve(schemas[node["$ref"].rsplit("/", 1)[-1]])
                rest = {k: resolve(v) for k, v in node.items() if k != "$ref"}
                return {**target, **rest}
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    operation = doc["paths"]["/v1/listen"]["post"]
    return {p["name"]: resolve(p["schema"]) for p in operation["parameters"] if p["in"] == "query"}


def _expected(schema: dict[str, Any]) -> tuple[str, bool, set[str] | None, bool]:
    """(kind, repeatable, choices, open_choices) that a spec schema calls for."""
    branches = schema.get("oneOf", [schema])
    types = [b.get("type") for b in branches]
    repeatable = "array" in types
    enum = {str(v) for b in branches for v in b.get("enum", [])}
    enum |= {str(v) for b in branches if b.get("type") == "array" for v in b["items"].get("enum", [])}
    free_string = any(
        (b.get("type") == "string" and "enum" not in b)
        or (b.get("type") == "array" and "enum" not in b["items"])
        for b in branches
    )
    if types == ["boolean"]:
        return "bool", False, None, False
    if types == ["number"]:
        return "float", False, None, False
    if types == ["integer"]:
        return "int", False, None, False
    if "boolean" in types and not repeatable:  # oneOf(enum, boolean): summarize
        return "enum", False, enum | {"true", "false"}, False
    if enum and not free_string:
        return ("str" if repeatable else "enum"), repeatable, enum, False
    return "str", repeatable, (enum or None), bool(enum)


def test_options_cover_every_listen_query_parameter() -> None:
    schemas = _listen_query_schemas()
    missing = sorted(set(schemas) - set(OPTIONS))
    assert not missing, f"spec parameters missing from OPTIONS: {missing}"
    for name, schema in schemas.items():
        spec = OPTIONS[name]
        kind, repeatable, choices, open_choices = _expected(schema)
        assert spec.in_spec, name
        assert spec.kind == kind, name
        assert spec.repeatable == repeatable, name
        assert (set(spec.choices) if spec.choices is not None else None) == choices, name
        assert spec.open_choices == open_choices, name


def test_older_options_are_not_in_the_spec() -> None:
    schemas = _listen_query_schemas()
    older = {name for name, spec in OPTIONS.items() if not spec.in_spec}
    assert older == {
        "alternatives",
        "channels",
        "detect_topics",
        "diarize_version",
        "ner",
        "sample_rate",
        "tier",
    }
    assert not older & set(schemas)


def test_option_table_is_sorted_and_consistent() -> None:
    assert list(OPTIONS) == sorted(OPTIONS)
    for name, spec in OPTIONS.items():
        assert isinstance(spec, OptionSpec)
        assert spec.name == name
        assert spec.kind in {"bool", "str", "int", "float", "enum"}
        assert spec.doc
        if spec.kind == "enum" or spec.open_choices:
            assert spec.choices, name
        if spec.max_items is not None:
            assert spec.repeatable and spec.max_items > 0, name
    repeatable = {name for name, spec in OPTIONS.items() if spec.repeatable}
    # STYLE.md: these go as repeated parameters.
    assert {
        "search",
        "keyterm",
        "keywords",
        "redact",
        "tag",
        "replace",
        "custom_topic",
        "custom_intent",
        "extra",
    } <= (repeatable)


def test_option_spec_is_frozen() -> None:
    with pytest.raises(AttributeError):
        OPTIONS["model"].kind = "int"  # type: ignore[misc]


# --- Encoding --------------------------------------------------------------------------------------------


def test_booleans_are_lowercase() -> None:
    params = ListenOptions.from_kwargs(punctuate=True, diarize=False, smart_format="TRUE").query_params()
    assert params == [("diarize", "false"), ("punctuate", "true"), ("smart_format", "true")]


def test_list_options_repeat_in_the_given_order() -> None:
    opts = ListenOptions.from_kwargs(search=["zeta", "alpha", "mid"], keyterm=("B", "A"), tag="one")
    assert opts.query_params() == [
        ("keyterm", "B"),
        ("keyterm", "A"),
        ("search", "zeta"),
        ("search", "alpha"),
        ("search", "mid"),
        ("tag", "one"),
    ]
    assert opts["search"] == ("zeta", "alpha", "mid")


def test_numbers_are_plain_text() -> None:
    opts = ListenOptions.from_kwargs(sample_rate=8000.0, channels="2", utt_split=1, alternatives=3)
    assert opts.query_params() == [
        ("alternatives", "3"),
        ("channels", "2"),
        ("sample_rate", "8000"),
        ("utt_split", "1"),
    ]
    assert ListenOptions.from_kwargs(utt_split=0.8).query_params() == [("utt_split", "0.8")]
    assert opts["utt_split"] == 1.0 and isinstance(opts["sample_rate"], int)


def test_extra_replace_and_keywords_encodings() -> None:
    opts = ListenOptions.from_kwargs(
        extra={"batch": "june", "n": 3, "ok": True},
        replace={"acme": "ACME", "um": ""},
        keywords=[("snuffleupagus", 5), "kansas:-2.50", "plain", ("boost", 1.5)],
    )
    assert opts.query_params() == [
        ("extra", "batch:june"),
        ("extra", "n:3"),
        ("extra", "ok:true"),
        ("keywords", "snuffleupagus:5"),
        ("keywords", "kansas:-2.5"),
        ("keywords", "plain"),
        ("keywords", "boost:1.5"),
        ("replace", "acme:ACME"),
        ("replace", "um:"),
    ]
    strings = ListenOptions.from_kwargs(extra=["batch:june"], replace="acme:ACME", keywords=("word", 2))
    assert strings.query_params() == [
        ("extra", "batch:june"),
        ("keywords", "word:2"),
        ("replace", "acme:ACME"),
    ]


def test_special_values() -> None:
    assert ListenOptions.from_kwargs(summarize=True)["summarize"] is True
    assert ListenOptions.from_kwargs(summarize="v2").query_params() == [("summarize", "v2")]
    assert ListenOptions.from_kwargs(summarize="false")["summarize"] is False
    assert ListenOptions.from_kwargs(redact=True).query_params() == [("redact", "true")]
    assert ListenOptions.from_kwargs(redact=["pci", "ssn"]).query_params() == [
        ("redact", "pci"),
        ("redact", "ssn"),
    ]
    assert ListenOptions.from_kwargs(redact="numbers")["redact"] == ("numbers",)
    assert ListenOptions.from_kwargs(detect_language=True).query_params() == [("detect_language", "true")]
    assert ListenOptions.from_kwargs(detect_language=["en", "es"])["detect_language"] == ("en", "es")
    assert ListenOptions.from_kwargs(detect_language="true")["detect_language"] is True
    assert ListenOptions.from_kwargs(model="my-custom-model").model == "my-custom-model"  # open choices
    assert ListenOptions.from_kwargs(version="2024-01-09.29447").query_params() == [
        ("version", "2024-01-09.29447")
    ]


def test_none_and_empty_lists_mean_not_set() -> None:
    opts = ListenOptions.from_kwargs(model=None, search=[], keyterm=(), extra={}, punctuate=True)
    assert dict(opts) == {"punctuate": True}
    assert ListenOptions.from_kwargs().query_params() == []
    assert ListenOptions.from_kwargs().model is None


def test_canonical_is_independent_of_kwargs_order_and_value_types() -> None:
    a = ListenOptions.from_kwargs(
        model="nova-3", punctuate=True, sample_rate=8000, encoding="linear16", utt_split=1
    )
    b = ListenOptions.from_kwargs(
        utt_split="1.0", encoding="linear16", sample_rate="8000", punctuate="true", model="nova-3"
    )
    assert (
        a.canonical()
        == b.canonical()
        == ("encoding=linear16&model=nova-3&punctuate=true&sample_rate=8000&utt_split=1")
    )
    assert a == b and hash(a) == hash(b) and a.digest() == b.digest()
    kw1 = ListenOptions.from_kwargs(keywords=[("acme", 2)], extra={"k": "v"})
    kw2 = ListenOptions.from_kwargs(extra="k:v", keywords="acme:2.0")
    assert kw1.canonical() == kw2.canonical()


def test_canonical_keeps_list_order_and_percent_encodes() -> None:
    ab = ListenOptions.from_kwargs(search=["a", "b"])
    ba = ListenOptions.from_kwargs(search=["b", "a"])
    assert ab.canonical() == "search=a&search=b"
    assert ab.canonical() != ba.canonical()
    assert ListenOptions.from_kwargs(search="hello world&more").canonical() == "search=hello%20world%26more"


def test_digest() -> None:
    a = ListenOptions.from_kwargs(model="nova-3")
    assert re.fullmatch(r"[0-9a-f]{16}", a.digest())
    others = [
        ListenOptions.from_kwargs(model="nova-2"),
        ListenOptions.from_kwargs(model="nova-3", punctuate=True),
        ListenOptions.from_kwargs(model="nova-3", punctuate=False),
        ListenOptions.from_kwargs(),
    ]
    digests = {a.digest(), *(o.digest() for o in others)}
    assert len(digests) == 5
    assert a.digest() == ListenOptions.from_kwargs(model="nova-3").digest()


# --- The mapping ---------------------------------------------------------------------------------------------


def test_listen_options_is_an_immutable_hashable_mapping() -> None:
    opts = ListenOptions.from_kwargs(search=["x"], model="nova-3", diarize=True)
    assert list(opts) == ["diarize", "model", "search"]
    assert len(opts) == 3 and "model" in opts and "tier" not in opts
    assert opts.get("tier") is None
    assert opts == {"diarize": True, "model": "nova-3", "search": ("x",)}
    assert {opts: 1}[ListenOptions.from_kwargs(model="nova-3", diarize="true", search="x")] == 1
    with pytest.raises(AttributeError):
        opts._data = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        opts["model"] = "nova-2"  # type: ignore[index]
    assert pickle.loads(pickle.dumps(opts)) == opts


def test_constructor_and_updated_validate() -> None:
    assert ListenOptions({"model": "nova-3"}, punctuate=True) == ListenOptions.from_kwargs(
        model="nova-3", punctuate=True
    )
    opts = ListenOptions.from_kwargs(model="nova-3", diarize=True)
    assert opts.updated(diarize=None, utterances=True) == ListenOptions.from_kwargs(
        model="nova-3", utterances=True
    )
    with pytest.raises(ConfigError) as info:
        opts.updated(utterances="maybe")
    assert info.value.option == "utterances"  # type: ignore[attr-defined]


def test_repr_shows_options_and_masks_callback_password() -> None:
    opts = ListenOptions.from_kwargs(model="nova-3", callback="https://user:s3cret@hooks.example.com:8443/dg")
    text = repr(opts)
    assert text == "ListenOptions(callback='https://user:***@hooks.example.com:8443/dg', model='nova-3')"
    assert "s3cret" not in text
    assert ("callback", "https://user:s3cret@hooks.example.com:8443/dg") in opts.query_params()
    assert "s3cret" not in opts.canonical()
    assert "user%3A%2A%2A%2A%40hooks.example.com" in opts.canonical()


# --- Validation errors ---------------------------------------------------------------------------------------

BAD_KWARGS: list[tuple[dict[str, Any], str, str]] = [
    ({"diarise": True}, "diarise", "did you mean 'diarize'?"),
    ({"smart-format": True}, "smart-format", "did you mean 'smart_format'?"),
    ({"frobnicate": 1}, "frobnicate", "not a /v1/listen option"),
    ({"punctuate": "maybe"}, "punctuate", "option 'punctuate' must be true or false, got 'maybe'"),
    ({"punctuate": 1}, "punctuate", "must be true or false"),
    ({"sample_rate": True}, "sample_rate", "positive integer"),
    ({"sample_rate": 0}, "sample_rate", "positive integer"),
    ({"sample_rate": "8k"}, "sample_rate", "positive integer"),
    ({"channels": 1.5}, "channels", "positive integer"),
    ({"alternatives": 0}, "alternatives", "positive integer"),
    ({"utt_split": False}, "utt_split", "positive number"),
    ({"utt_split": -0.5}, "utt_split", "positive number"),
    ({"utt_split": float("nan")}, "utt_split", "positive number"),
    ({"model": ""}, "model", "must not be empty"),
    ({"model": 3}, "model", "must be a string"),
    ({"callback_method": "GET"}, "callback_method", "one of 'POST', 'PUT'"),
    ({"custom_topic_mode": "strikt"}, "custom_topic_mode", "did you mean 'strict'?"),
    ({"diarize_model": "v3"}, "diarize_model", "one of 'latest', 'v1', 'v2'"),
    ({"encoding": "mp3"}, "encoding", "one of"),
    ({"summarize": "v3"}, "summarize", "true, false or 'v2'"),
    (
        {"search": ["term"] * 51},
        "search",
        "option 'search' has 51 terms; Deepgram accepts at most 50 per request",
    ),
    ({"keyterm": [f"t{i}" for i in range(101)]}, "keyterm", "at most 100 per request"),
    ({"keyterm": ["one two three four five"] * 100 + ["x"]}, "keyterm", "at most 100"),
    ({"keyterm": ["w " * 300, "w " * 201]}, "keyterm", "501 words"),
    ({"keywords": [f"k{i}" for i in range(101)]}, "keywords", "at most 100 per request"),
    ({"keywords": "acme:lots"}, "keywords", "word:intensifier"),
    ({"keywords": [("acme", "2")]}, "keywords", "intensifier must be a number"),
    ({"keywords": [("acme", True)]}, "keywords", "intensifier must be a number"),
    ({"replace": [f"a{i}:b" for i in range(201)]}, "replace", "at most 200 per request"),
    ({"replace": "nocolon"}, "replace", "'find:replace'"),
    ({"extra": "nocolon"}, "extra", "'key:value'"),
    ({"extra": {"": "v"}}, "extra", "non-empty string"),
    ({"extra": {"k": "v" * 2100}}, "extra", "at most 2048"),
    ({"tag": [str(i) for i in range(1001)]}, "tag", "dgtools sends at most 1000"),
    ({"tag": "x" * 129}, "tag", "at most 128"),
    ({"custom_topic": [f"t{i}" for i in range(101)]}, "custom_topic", "101 topics"),
    ({"custom_intent": [f"t{i}" for i in range(1001)]}, "custom_intent", "1001 intents"),
    ({"search": 3}, "search", "a string or a list of strings"),
    ({"search": ["ok", ""]}, "search", "must not be empty"),
    ({"redact": ["true", "pci"]}, "redact", "either true/false or a list"),
    ({"detect_language": 1}, "detect_language", "a string or a list of strings"),
    ({"callback": "ftp://example.com/x"}, "callback", "http(s) URL"),
    ({"callback": "example.com/hook"}, "callback", "http(s) URL"),
    ({"callback": "https://"}, "callback", "http(s) URL"),
    ({"callback": "https://example.com:notaport/"}, "callback", "http(s) URL"),
    ({"encoding": "linear16"}, "encoding", "needs 'sample_rate'"),
    ({"encoding": "mulaw", "channels": 1}, "encoding", "needs 'sample_rate'"),
    ({"encoding": "amr-nb", "sample_rate": 16000}, "sample_rate", "must be 8000"),
    ({"encoding": "amr-wb", "sample_rate": 8000}, "sample_rate", "must be 16000"),
]


@pytest.mark.parametrize(
    ("kwargs", "option", "fragment"), BAD_KWARGS, ids=[b[1] + ":" + b[2][:24] for b in BAD_KWARGS]
)
def test_every_error_names_the_option(kwargs: dict[str, Any], option: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        ListenOptions.from_kwargs(**kwargs)
    assert info.value.option == option  # type: ignore[attr-defined]
    assert f"option {option!r}" in str(info.value)
    assert fragment in str(info.value)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="diarize"):
        ListenOptions.from_kwargs(diarise=True)


def test_valid_encodings() -> None:
    assert ListenOptions.from_kwargs(encoding="flac")["encoding"] == "flac"  # FLAC has a header
    assert ListenOptions.from_kwargs(encoding="amr-wb", sample_rate=16000)["sample_rate"] == 16000
    assert ListenOptions.from_kwargs(encoding="linear16", sample_rate=48000).query_params() == [
        ("encoding", "linear16"),
        ("sample_rate", "48000"),
    ]


def test_limits_at_the_boundary_are_accepted() -> None:
    opts = ListenOptions.from_kwargs(
        search=[f"s{i}" for i in range(50)],
        keyterm=[f"k{i}" for i in range(100)],
        keywords=[f"w{i}" for i in range(100)],
        custom_topic=[f"t{i}" for i in range(100)],
        tag="x" * 128,
    )
    assert len(opts["search"]) == 50 and len(opts["keyterm"]) == 100


# --- validate_query --------------------------------------------------------------------------------------


RICH: dict[str, Any] = {
    "model": "nova-3",
    "language": "en-US",
    "version": "latest",
    "punctuate": True,
    "smart_format": True,
    "diarize": False,
    "diarize_model": "v2",
    "utterances": True,
    "utt_split": 0.8,
    "paragraphs": True,
    "search": ["refund", "cancel my order"],
    "keyterm": ["Deepgram", "nova three"],
    "keywords": [("acme", 2), "widget:-1.5", "plain"],
    "replace": {"acme": "ACME", "um": ""},
    "extra": {"batch": "june", "dept": "sales team"},
    "tag": ["exp-1", "exp-2"],
    "redact": ["pci", "ssn"],
    "detect_language": ["en", "es"],
    "summarize": "v2",
    "topics": True,
    "custom_topic": ["billing", "shipping"],
    "custom_topic_mode": "strict",
    "intents": True,
    "custom_intent": ["upgrade phone"],
    "custom_intent_mode": "extended",
    "sentiment": True,
    "detect_entities": True,
    "callback": "https://hooks.example.com/dg?x=1",
    "callback_method": "PUT",
    "encoding": "linear16",
    "sample_rate": 16000,
    "channels": 2,
    "multichannel": True,
    "alternatives": 2,
    "numerals": True,
    "ner": False,
    "tier": "enhanced",
    "detect_topics": False,
    "diarize_version": "2021-07-14.0",
    "dictation": True,
    "measurements": True,
    "filler_words": True,
    "profanity_filter": False,
    "mip_opt_out": True,
}


def test_validate_query_round_trip() -> None:
    opts = ListenOptions.from_kwargs(**RICH)
    assert set(opts) == set(RICH)
    params = opts.query_params()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params)
    again = validate_query(params)
    assert again == opts
    assert again.canonical() == opts.canonical()
    # A server sees the pairs in any order; list items keep their relative order.
    assert validate_query(list(reversed(params))).canonical() != opts.canonical()  # lists reversed
    shuffled = sorted(params, key=lambda kv: kv[0], reverse=True)
    assert validate_query(shuffled) == opts


def test_validate_query_round_trip_for_bool_forms() -> None:
    for kwargs in ({"redact": True}, {"detect_language": False}, {"summarize": True}, {"utt_split": 2}):
        opts = ListenOptions.from_kwargs(**kwargs)
        assert validate_query(opts.query_params()) == opts


BAD_QUERIES: list[tuple[list[tuple[str, str]], str, str]] = [
    ([("diarise", "true")], "diarise", "did you mean 'diarize'?"),
    ([("model", "nova-3"), ("api_key", "x")], "api_key", "not a /v1/listen option"),
    ([("punctuate", "maybe")], "punctuate", "must be true or false, got 'maybe'"),
    ([("punctuate", "")], "punctuate", "must be true or false"),
    ([("punctuate", "true"), ("punctuate", "false")], "punctuate", "given 2 times"),
    ([("model", "nova-3"), ("model", "nova-2")], "model", "given 2 times"),
    ([("callback_method", "DELETE")], "callback_method", "one of 'POST', 'PUT'"),
    ([("encoding", "wav")], "encoding", "one of"),
    ([("sample_rate", "8000.5")], "sample_rate", "positive integer"),
    ([("utt_split", "soon")], "utt_split", "positive number"),
    ([("search", f"s{i}") for i in range(51)], "search", "at most 50"),
    ([("keywords", "acme:x")], "keywords", "word:intensifier"),
    ([("detect_language", "true"), ("detect_language", "en")], "detect_language", "either true/false"),
    ([("encoding", "linear16")], "encoding", "needs 'sample_rate'"),
]


@pytest.mark.parametrize(
    ("params", "option", "fragment"), BAD_QUERIES, ids=[b[1] + ":" + b[2][:24] for b in BAD_QUERIES]
)
def test_validate_query_errors_name_the_parameter(
    params: list[tuple[str, str]], option: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        validate_query(params)
    assert info.value.option == option  # type: ignore[attr-defined]
    assert fragment in str(info.value)


def test_validate_query_accepts_repeated_list_options_and_bool_case() -> None:
    opts = validate_query([("tag", "a"), ("punctuate", "True"), ("tag", "b"), ("sample_rate", "8000")])
    assert opts == {"punctuate": True, "sample_rate": 8000, "tag": ("a", "b")}


# --- default_concurrency ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "region", "expected"),
    [
        ({}, None, 50),
        ({"model": "nova-3", "punctuate": True}, None, 50),
        ({"diarize": True}, None, 50),
        ({"diarize": True}, "us", 50),
        ({"diarize": True}, "eu", 25),
        ({"diarize": True}, "AU", 25),
        ({"diarize": False}, "eu", 50),
        ({"diarize_model": "latest"}, "au", 25),
        ({"summarize": "v2"}, None, 10),
        ({"summarize": False}, None, 50),
        ({"topics": True}, None, 10),
        ({"topics": False}, None, 50),
        ({"detect_topics": True}, None, 10),
        ({"intents": True}, None, 10),
        ({"sentiment": True}, None, 10),
        ({"sentiment": True, "diarize": True}, "eu", 10),
        ({"detect_entities": True}, None, 5),
        ({"detect_entities": True, "diarize": True, "summarize": True}, "eu", 5),
        ({"detect_entities": False}, None, 50),
    ],
)
def test_default_concurrency(kwargs: dict[str, Any], region: str | None, expected: int) -> None:
    assert default_concurrency(ListenOptions.from_kwargs(**kwargs), region=region) == expected
