"""The old v2 API (``https://brain.deepgram.com/v2``): Basic auth, ``POST /v2/listen``, its response shape.

End to end through :func:`dgtools.transcribe` against :class:`~dgtools.server.LocalServer`'s
``POST /v2/listen``; :func:`dgtools.to_tables` on the fixtures built from the reference
(``tests/data/v2/README.md``).  The password, like the key, must appear in no message, repr,
log, output or file.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest
from tones import wav

import dgtools
from dgtools.api import DeepgramClient, RetryPolicy, resolve_credentials
from dgtools.api.auth import OLD_BASE_URL, split_api_version
from dgtools.cli import main
from dgtools.exceptions import AuthenticationError, ConfigError
from dgtools.options import ListenOptions
from dgtools.server import LocalServer, SyntheticEngine
from dgtools.server.v2 import V2_METADATA, V2_UTTERANCE, V2_WORD, BasicCredentials, to_v2

V2_DATA = Path(__file__).parent / "data" / "v2"
USER = "ada@example.com"
#: Sentinel password: it must appear in no message, repr, log, output or file.
PASSWORD = "v2-sentinel-password-0v2-sentinel-password"
QUICK = RetryPolicy(base_delay=0.01)


def transcribe(source: Path, server: LocalServer, store: Path, **kw: Any) -> dgtools.Run:
    kw.setdefault("username", USER)
    kw.setdefault("password", PASSWORD)
    return dgtools.transcribe(
        source, store=store, base_url=server.url + "/v2", progress=False, retry=QUICK, **kw
    )


def texts_of(run: dgtools.Run) -> list[str]:
    return [
        repr(run),
        str(run.summary()),
        run.failures.to_string(),
        run._repr_html_(),
        run.results_frame.to_string(),
        *map(repr, run.results),
    ]


def files_bytes(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()]


# --------------------------------------------------------------------------- credentials


def test_basic_credentials_hide_the_password() -> None:
    creds = resolve_credentials(username=USER, password=PASSWORD)
    assert creds.scheme == "Basic" and creds.source == "username=/password="
    assert creds.header() == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert PASSWORD not in repr(creds) and PASSWORD not in str(creds)
    assert PASSWORD in creds.secrets  # the store refuses to write it
    assert creds.redact(f"x {PASSWORD} y") == "x *** y"
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(creds)


def test_basic_credentials_from_the_environment_only_for_v2() -> None:
    env = {"DEEPGRAM_USERNAME": USER, "DEEPGRAM_PASSWORD": PASSWORD, "DEEPGRAM_API_KEY": "f" * 40}
    creds = resolve_credentials(basic=True, env=env)
    assert (creds.scheme, creds.source) == ("Basic", "DEEPGRAM_USERNAME/DEEPGRAM_PASSWORD")
    assert resolve_credentials(env=env).scheme == "Token"  # v1 never picks the v2 pair
    with pytest.raises(ConfigError, match="DEEPGRAM_USERNAME and DEEPGRAM_PASSWORD"):
        resolve_credentials(basic=True, env={"DEEPGRAM_API_KEY": "f" * 40})


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"username": USER}, "both a username and a password"),
        ({"password": PASSWORD}, "both a username and a password"),
        ({"username": "a:b", "password": PASSWORD}, "contains ':'"),
        ({"api_key": "f" * 40, "password": PASSWORD}, "only one of"),
    ],
)
def test_bad_basic_credentials_are_refused_without_the_password(kw: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        resolve_credentials(**kw)
    assert PASSWORD not in str(info.value)


def test_split_api_version() -> None:
    assert split_api_version("https://brain.deepgram.com/v2/") == (OLD_BASE_URL, "v2")
    assert split_api_version("https://brain.deepgram.com/v2/listen") == (OLD_BASE_URL, "v2")
    assert split_api_version("http://127.0.0.1:1/v1", None) == ("http://127.0.0.1:1", "v1")
    assert split_api_version("http://127.0.0.1:1", "v2") == ("http://127.0.0.1:1", "v2")
    with pytest.raises(ConfigError, match="drop one of them"):
        split_api_version("https://brain.deepgram.com/v2", "v1")
    with pytest.raises(ConfigError, match=r"'v1'.*'v2'"):
        split_api_version(None, "v3")


# --------------------------------------------------------------------------- the client


def _mock_v2(seen: list[httpx.Request]) -> httpx.MockTransport:
    body = (V2_DATA / "plain.json").read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body, headers={"dg-request-id": "r-1"})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    "kw",
    [
        {"api_version": "v2"},
        {"base_url": "https://brain.deepgram.com/v2"},
        {"base_url": OLD_BASE_URL + "/v2/listen"},
    ],
)
def test_client_posts_v2_listen_with_basic_auth(tmp_path: Path, kw: dict[str, str]) -> None:
    seen: list[httpx.Request] = []
    audio = wav(tmp_path / "a.wav")

    async def go() -> None:
        async with DeepgramClient(username=USER, password=PASSWORD, transport=_mock_v2(seen), **kw) as dg:
            assert dg.api_version == "v2" and dg.base_url == OLD_BASE_URL
            assert PASSWORD not in repr(dg) and "api=v2" in repr(dg)
            result = await dg.transcribe_file(
                audio, ListenOptions.from_kwargs(model="general", punctuate=True)
            )
            assert result.request_id == "r-1"

    asyncio.run(go())
    (request,) = seen
    assert request.method == "POST" and request.url.path == "/v2/listen"
    assert request.url.params["punctuate"] == "true"
    scheme, _, token = request.headers["authorization"].partition(" ")
    assert (scheme, base64.b64decode(token).decode()) == ("Basic", f"{USER}:{PASSWORD}")


def test_client_v2_refuses_a_key_and_a_region() -> None:
    with pytest.raises(ConfigError, match="username and password") as info:
        DeepgramClient(api_key="f" * 40, api_version="v2")
    assert "f" * 40 not in str(info.value)
    with pytest.raises(ConfigError, match="region"):
        DeepgramClient(username=USER, password=PASSWORD, api_version="v2", region="eu")


def test_wrong_password_is_an_authentication_error_naming_the_fix(tmp_path: Path) -> None:
    audio = wav(tmp_path / "a.wav")

    async def go(url: str) -> None:
        async with DeepgramClient(username=USER, password="wrong-" + PASSWORD, base_url=url + "/v2") as dg:
            await dg.transcribe_file(audio, ListenOptions.from_kwargs())

    with LocalServer(basic_auth={(USER, PASSWORD)}) as server, pytest.raises(AuthenticationError) as info:
        asyncio.run(go(server.url))
    exc = info.value
    msg = str(exc)
    assert exc.status_code == 401 and exc.err_code == "INVALID_AUTH"
    assert "\n" not in msg
    assert "HTTP Basic" in msg and "username= and password=" in msg and "DEEPGRAM_PASSWORD" in msg
    assert "Token <API key>" not in msg  # v1's advice would be wrong here
    assert PASSWORD not in msg and PASSWORD not in (exc.body or "")


# --------------------------------------------------------------------------- end to end


def test_transcribe_v2_end_to_end(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wav(tmp_path / "audio/a.wav", seconds=2.0, tone=3)
    wav(tmp_path / "audio/b.wav", seconds=1.0, tone=5)
    store = tmp_path / "store"
    with LocalServer(basic_auth={(USER, PASSWORD)}, api_keys=["v1-only-key-0000000000"]) as server:
        run = transcribe(tmp_path / "audio", server, store, model="general", diarize=True, utterances=True)
        stats = server.stats()
    assert [r.status for r in run.results] == ["transcribed", "transcribed"]
    assert stats["by_status"] == {"200": 2}

    raw = [json.loads(p.read_bytes()) for p in sorted((store / "responses").rglob("*.json"))]
    assert len(raw) == 2
    for doc in raw:  # the old shape, not v1's
        assert list(doc) == ["metadata", "results"]
        assert set(doc["metadata"]) <= set(V2_METADATA) and doc["metadata"]["transaction_key"] != "deprecated"
        words = doc["results"]["channels"][0]["alternatives"][0]["words"]
        assert words and all(set(w) <= set(V2_WORD) for w in words)
        assert all(set(u) <= set(V2_UTTERANCE) for u in doc["results"]["utterances"])

    t = run.tables
    assert set(t.words.file_id) == {"a.wav", "b.wav"}
    assert t.words.punctuated_word.isna().all() and t.words.speaker.notna().all()
    assert len(t.utterances) >= 2 and set(t.utterances.file_id) == {"a.wav", "b.wav"}

    out, err = capfd.readouterr()
    for text in [*texts_of(run), out, err, caplog.text]:
        assert PASSWORD not in text
    for path, data in files_bytes(store):
        assert PASSWORD.encode() not in data, path
        assert base64.b64encode(f"{USER}:{PASSWORD}".encode()) not in data, path


def test_transcribe_v2_wrong_password(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wav(tmp_path / "audio/a.wav")
    store = tmp_path / "store"
    with LocalServer(basic_auth={(USER, "the-right-password-0000")}) as server:
        run = transcribe(tmp_path / "audio", server, store)
    (failure,) = run.failures.itertuples()
    assert failure.status == "401" and failure.err_code == "INVALID_AUTH"
    assert "HTTP Basic" in failure.message and "username= and password=" in failure.message
    assert "username= and password=" in failure.advice and "DEEPGRAM_TOKEN" not in failure.advice
    out, err = capfd.readouterr()
    for text in [*texts_of(run), out, err, caplog.text]:
        assert PASSWORD not in text
    for path, data in files_bytes(store):
        assert PASSWORD.encode() not in data, path


def test_v1_and_v2_answers_are_stored_apart(tmp_path: Path) -> None:
    wav(tmp_path / "a.wav")
    store = tmp_path / "store"
    with LocalServer(basic_auth={(USER, PASSWORD)}) as server:
        v1 = dgtools.transcribe(
            tmp_path / "a.wav",
            store=store,
            api_key="f" * 40,
            base_url=server.url,
            progress=False,
            model="nova-3",
        )
        v2 = transcribe(tmp_path / "a.wav", server, store, model="nova-3")
        again = transcribe(tmp_path / "a.wav", server, store, model="nova-3")
        stats = server.stats()
    assert [r.status for r in v1.results + v2.results] == ["transcribed", "transcribed"]
    assert [r.status for r in again.results] == ["stored"]
    assert stats["requests"] == 2  # the v2 run sent again: a v1 answer never passes for a v2 one
    assert len(v1.tables.words) == len(v2.tables.words) > 0


def test_estimate_looks_up_v2_answers_where_a_v2_run_stores_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav(tmp_path / "a.wav")
    store = tmp_path / "store"
    with LocalServer(basic_auth={(USER, PASSWORD)}) as server:
        assert [r.status for r in transcribe(tmp_path / "a.wav", server, store, model="nova-3").results] == [
            "transcribed"
        ]
    v2 = dgtools.estimate(tmp_path / "a.wav", store=store, api_version="v2", model="nova-3")
    assert v2.files["status"].tolist() == ["stored"] and v2.total.files == 0
    v1 = dgtools.estimate(tmp_path / "a.wav", store=store, model="nova-3")  # a v1 run would send it
    assert v1.files["status"].tolist() == ["to send"] and v1.total.files == 1
    args = ["estimate", str(tmp_path / "a.wav"), "--store", str(store), "--model", "nova-3"]
    assert main([*args, "--api-version", "v2"]) == 0
    assert "0 file(s) to send, 1 already stored" in capsys.readouterr().out
    with pytest.raises(ConfigError, match=r"api_version='v2' .* is for engine='deepgram'"):
        dgtools.estimate(tmp_path / "a.wav", engine="local", api_version="v2")
    with pytest.raises(ConfigError, match="api_version='v3'"):
        dgtools.estimate(tmp_path / "a.wav", api_version="v3")


def test_v2_needs_username_and_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPGRAM_USERNAME", "DEEPGRAM_PASSWORD", "DEEPGRAM_API_KEY", "DEEPGRAM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    wav(tmp_path / "a.wav")
    with pytest.raises(ConfigError, match="DEEPGRAM_USERNAME and DEEPGRAM_PASSWORD"):
        dgtools.transcribe(
            tmp_path / "a.wav",
            store=tmp_path / "s",
            api_version="v2",
            base_url="http://127.0.0.1:9",
            progress=False,
        )
    with pytest.raises(ConfigError, match="engine='deepgram'"):
        dgtools.transcribe(tmp_path / "a.wav", store=tmp_path / "s", api_version="v2", engine="local")


# --------------------------------------------------------------------------- the server


def test_server_v2_route_answers_basic_only() -> None:
    good = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(f"{USER}:nope".encode()).decode()}
    audio = b"\0" * 32000
    with (
        LocalServer(basic_auth={(USER, PASSWORD)}, api_keys=["k" * 20]) as server,
        httpx.Client(base_url=server.url, trust_env=False) as http,
    ):
        ok = http.post("/v2/listen", content=audio, headers=good)
        assert ok.status_code == 200
        assert ok.headers["dg-request-id"] == ok.json()["metadata"]["request_id"]
        for headers in (bad, {"Authorization": "Token " + "k" * 20}, {}):
            r = http.post("/v2/listen", content=audio, headers=headers)
            assert (r.status_code, r.json()["err_code"]) == (401, "INVALID_AUTH")
        assert http.post("/v1/listen", content=audio, headers=good).status_code == 401  # v1 keeps its keys
        assert http.get("/v2/listen", headers=good).status_code == 405
        bad_query = http.post("/v2/listen?diarise=true", content=audio, headers=good)
        assert bad_query.status_code == 400


def test_server_v2_without_pairs_accepts_any_basic() -> None:
    any_pair = {"Authorization": "Basic " + base64.b64encode(b"someone:something").decode()}
    with LocalServer() as server, httpx.Client(base_url=server.url, trust_env=False) as http:
        assert http.post("/v2/listen", content=b"\0" * 32000, headers=any_pair).status_code == 200
        empty = {"Authorization": "Basic " + base64.b64encode(b"someone:").decode()}
        assert http.post("/v2/listen", content=b"\0" * 32000, headers=empty).status_code == 401


def test_basic_credentials_keep_digests_only() -> None:
    creds = BasicCredentials({(USER, PASSWORD)})
    assert PASSWORD.encode() not in repr(vars(creds) if hasattr(creds, "__dict__") else creds).encode()
    assert not creds.allow(b"Basic !!!not-base64")
    with pytest.raises(ConfigError, match="pair") as info:
        BasicCredentials({(USER, "")})  # type: ignore[arg-type]
    assert PASSWORD not in str(info.value)


def test_to_v2_keeps_only_the_old_fields() -> None:
    v1 = asyncio.run(
        SyntheticEngine().transcribe(
            audio=b"\0" * 64000,
            url=None,
            options=ListenOptions.from_kwargs(diarize=True, utterances=True, punctuate=True, search=["the"]),
            request_id="r-9",
            sha256="ab" * 32,
        )
    )
    out = to_v2(v1)
    assert list(out["metadata"]) == [k for k in V2_METADATA if k in out["metadata"]]
    assert out["metadata"]["request_id"] == "r-9" and out["metadata"]["sha256"] == "ab" * 32
    channel = out["results"]["channels"][0]
    assert set(channel) <= {"search", "alternatives"}
    assert set(channel["alternatives"][0]) == {"transcript", "confidence", "words"}
    words_v1 = v1["results"]["channels"][0]["alternatives"][0]["words"]
    words_v2 = channel["alternatives"][0]["words"]
    assert [w["word"] for w in words_v2] == [w["word"] for w in words_v1]
    assert all(set(w) <= set(V2_WORD) for w in words_v2)
    assert to_v2(out)["results"] == out["results"]  # converting twice changes nothing more

    t1, t2 = dgtools.to_tables(v1), dgtools.to_tables(out)
    cols = ["word", "start", "end", "confidence", "speaker", "channel"]
    assert t2.words[cols].equals(t1.words[cols])


# --------------------------------------------------------------------------- to_tables on the reference fixtures


def _fixture(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((V2_DATA / f"{name}.json").read_text())
    return doc


def test_fixtures_have_only_the_reference_fields() -> None:
    for path in sorted(V2_DATA.glob("*.json")):
        doc = json.loads(path.read_text())
        assert list(doc) == ["metadata", "results"], path
        assert list(doc["metadata"]) == list(V2_METADATA), path
        for channel in doc["results"]["channels"]:
            assert set(channel) <= {"search", "alternatives"}, path
            for alt in channel["alternatives"]:
                assert set(alt) == {"transcript", "confidence", "words"}, path
                assert all(set(w) <= set(V2_WORD) for w in alt["words"]), path
        assert to_v2(doc)["results"] == doc["results"], path  # the converter keeps all of the old shape


def test_to_tables_reads_the_plain_v2_response() -> None:
    doc = _fixture("plain")
    t = dgtools.to_tables(doc)
    rid = doc["metadata"]["request_id"]
    assert t.words.word.tolist() == ["hello", "and", "welcome", "to", "the", "call"]
    assert (t.words.request_id == rid).all() and t.words.punctuated_word.isna().all()
    assert t.words.speaker.isna().all() and t.utterances.empty
    assert t.requests.request_id.tolist() == [rid]
    assert float(t.requests.duration.iloc[0]) == 3.2
    assert t.alternatives.transcript.tolist() == ["hello and welcome to the call"]


def test_to_tables_reads_v2_multichannel_and_search() -> None:
    t = dgtools.to_tables(_fixture("multichannel_search"))
    assert t.words.groupby("channel").size().to_dict() == {0: 5, 1: 4}
    assert len(t.channels) == 2
    hit = t.search_hits.dropna(subset=["start"])
    assert hit["query"].tolist() == ["refund"] and hit.channel.tolist() == [0]
    assert float(hit.start.iloc[0]) == 1.2


def test_to_tables_reads_v2_diarize_and_utterances() -> None:
    t = dgtools.to_tables(_fixture("diarize_utterances"))
    assert t.words.speaker.tolist() == [0] * 5 + [1] * 4
    assert t.utterances.speaker.tolist() == [0, 1]
    assert t.utterances.transcript.tolist() == ["hi there thanks for calling", "how can i help"]
    assert t.words.dg.talk_time().shape[0] == 2


def test_v2_tables_have_the_v1_columns() -> None:
    v1 = dgtools.to_tables(json.loads((Path(__file__).parent / "data" / "call.json").read_text()))
    v2 = dgtools.to_tables(_fixture("diarize_utterances"))
    for name in ("words", "utterances", "requests", "channels", "alternatives"):
        assert list(getattr(v2, name).columns) == list(getattr(v1, name).columns), name
        assert getattr(v2, name).dtypes.equals(getattr(v1, name).dtypes), name


def test_serve_needs_both_halves_of_the_basic_pair(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    monkeypatch.delenv("DEEPGRAM_USERNAME", raising=False)
    monkeypatch.delenv("DEEPGRAM_PASSWORD", raising=False)
    assert main(["serve", "--basic-user", USER]) == 1
    err = capsys.readouterr().err
    assert "--basic-password" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["serve", "--basic-password", PASSWORD]) == 1
    err = capsys.readouterr().err
    assert "--basic-user" in err and PASSWORD not in err


def test_the_command_line_sends_v2_with_the_pair_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    wav(tmp_path / "audio/a.wav", seconds=1.0, tone=3)
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    monkeypatch.setenv("DEEPGRAM_USERNAME", USER)
    monkeypatch.setenv("DEEPGRAM_PASSWORD", PASSWORD)
    with LocalServer(basic_auth={(USER, PASSWORD)}) as server:
        argv = ["transcribe", str(tmp_path / "audio"), "--api-version", "v2", "--base-url", server.url,
                "--store", str(tmp_path / "st"), "--out", str(tmp_path / "out"), "--no-progress", "--no-plots"]  # fmt: skip
        assert main(argv) == 0
        assert server.stats()["by_status"] == {"200": 1}
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err and (tmp_path / "out" / "words.parquet").is_file()
