"""Write the example Deepgram responses in ``data/responses/``.

The dialogue, the intelligence results (summary, topics, intents, sentiment
segments, entities, search hits) and the metadata are written by hand below.
This script only does the bookkeeping a person would get wrong by hand: word
timings, word confidences, sentence and paragraph boundaries, utterances,
``num_words`` and ``start_word``/``end_word`` indexes, so that every file is
internally consistent the way a real response is.  It is deterministic (fixed
seeds), needs only the standard library and is not imported by dgtools.

Usage (from the repository root)::

    python data/make_responses.py          # rewrites data/responses/*.json[l]
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "responses"

# Made-up model uuids (not Deepgram's); one per model, shared by every file that uses it.
NOVA3 = "4a1b7c2e-9d3f-4e58-a6b1-0c2d3e4f5a6b"
NOVA3_INFO = {"name": "general-nova-3", "version": "2025-07-31.0", "arch": "nova-3"}
INTEL_LLM = "9e8d7c6b-5a49-4382-b1f0-e1d2c3b4a596"

Json = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def sha(name: str) -> str:
    return hashlib.sha256(f"dgtools example audio: {name}".encode()).hexdigest()


def norm(token: str) -> str:
    """Deepgram's ``word``: lower case, punctuation stripped (apostrophes, digits and dots in numbers kept)."""
    w = token.lower()
    w = re.sub(r"^[^\w$]+|[^\w%]+$", "", w)
    return w.lstrip("$")


def metadata(rng: random.Random, name: str, created: str, duration: float, channels: int = 1) -> Json:
    return {
        "transaction_key": "deprecated",
        "request_id": uid(rng),
        "sha256": sha(name),
        "created": created,
        "duration": duration,
        "channels": channels,
        "models": [NOVA3],
        "model_info": {NOVA3: dict(NOVA3_INFO)},
    }


class Speech:
    """Lays hand-written sentences out in time, one word at a time."""

    def __init__(self, seed: int, t0: float = 0.4) -> None:
        self.rng = random.Random(seed)
        self.t = t0

    def conf(self, low: bool = False) -> float:
        if low:
            return round(self.rng.uniform(0.41, 0.78), 7)
        return round(1 - self.rng.random() ** 2.2 * 0.12, 7)

    def sentence(self, text: str, *, speaker: int | None = None, spk_conf: float = 0.8) -> list[Json]:
        """Words of one sentence.

        ``*token*`` marks a word the recogniser was unsure of; ``word|punctuated`` gives both forms
        (smart_format numbers).  With ``speaker``, words get ``speaker`` and a ``speaker_confidence``
        scattered around ``spk_conf``, in Deepgram's key order.
        """
        self.t += self.rng.uniform(0.25, 0.6)
        words = []
        for raw in text.split():
            low = raw.startswith("*")
            token = raw.strip("*")
            word, punct = token.split("|") if "|" in token else (norm(token), token)
            dur = 0.1 + 0.05 * len(word) + self.rng.uniform(-0.03, 0.05)
            start, end = round(self.t, 2), round(self.t + dur, 2)
            w: Json = {"word": word, "start": start, "end": end, "confidence": self.conf(low)}
            if speaker is not None:
                w["speaker"] = speaker
                w["speaker_confidence"] = round(min(0.99, max(0.3, self.rng.gauss(spk_conf, 0.06))), 7)
            w["punctuated_word"] = punct
            words.append(w)
            self.t = end + self.rng.uniform(0.0, 0.08)
            if punct.endswith(","):
                self.t += self.rng.uniform(0.08, 0.2)
        return words

    def wait(self, seconds: float) -> None:
        self.t += seconds


def transcript(words: list[Json]) -> str:
    return " ".join(w["punctuated_word"] for w in words)


def alt_confidence(words: list[Json]) -> float:
    if not words:
        return 0.0
    cs = sorted(w["confidence"] for w in words)
    return cs[len(cs) // 2]  # Deepgram's alternative confidence sits near the median word confidence


def paragraphs(paras: list[list[list[Json]]], *, diarized: bool) -> Json:
    """``paras`` is paragraphs of sentences of words."""
    out = []
    texts = []
    for sents in paras:
        flat = [w for s in sents for w in s]
        p: Json = {
            "sentences": [
                {"text": transcript(s), "start": s[0]["start"], "end": s[-1]["end"]} for s in sents
            ],
        }
        if diarized:
            p["speaker"] = flat[0]["speaker"]
        p.update(num_words=len(flat), start=flat[0]["start"], end=flat[-1]["end"])
        out.append(p)
        body = " ".join(transcript(s) for s in sents)
        texts.append(f"Speaker {flat[0]['speaker']}: {body}" if diarized else body)
    return {"transcript": "\n" + "\n\n".join(texts), "paragraphs": out}


def utterances(rng: random.Random, words: list[Json], channel: int = 0, split: float = 0.8) -> list[Json]:
    """Split words into utterances at a speaker change or a pause longer than ``split`` seconds."""
    groups: list[list[Json]] = []
    for w in words:
        if (
            groups
            and w.get("speaker") == groups[-1][-1].get("speaker")
            and w["start"] - groups[-1][-1]["end"] <= split
        ):
            groups[-1].append(w)
        else:
            groups.append([w])
    out = []
    for g in groups:
        u: Json = {
            "start": g[0]["start"],
            "end": g[-1]["end"],
            "confidence": round(sum(w["confidence"] for w in g) / len(g), 7),
            "channel": channel,
            "transcript": transcript(g),
            "words": g,
        }
        if "speaker" in g[0]:
            u["speaker"] = g[0]["speaker"]
        u["id"] = uid(rng)
        out.append(u)
    return out


def span(words: list[Json], phrase: str, after: int = 0) -> tuple[int, int]:
    """Word indexes ``(first, last + 1)`` of ``phrase`` (matched on ``word``), searching from ``after``."""
    target = [norm(t) for t in phrase.split()]
    n = len(target)
    for i in range(after, len(words) - n + 1):
        if [w["word"] for w in words[i : i + n]] == target:
            return i, i + n
    raise ValueError(f"{phrase!r} not found")


# --------------------------------------------------------------------------- (a) mono podcast


def podcast() -> Json:
    rng = random.Random(101)
    sp = Speech(1, t0=0.32)
    paras_text = [
        [
            "Welcome back to Field Notes, the show about how small teams actually ship software.",
            "I'm your host, Priya Raman.",
        ],
        [
            "Today we're talking about release trains.",
            "In 2024|2024 our team cut its release cycle from 6|6 weeks to 9|9 days,",
            "and the surprising part is that *fewer* things broke.",
        ],
        [
            "So let's get into what changed and what it cost us.",
        ],
    ]
    paras = []
    for pi, sents in enumerate(paras_text):
        if pi:
            sp.wait(0.9)
        paras.append([sp.sentence(s) for s in sents])
    # the "... 9 days," / "and the surprising ..." pair is one sentence
    p1 = paras[1]
    paras[1] = [p1[0], p1[1] + p1[2]]
    words = [w for p in paras for s in p for w in s]
    duration = round(words[-1]["end"] + 0.61, 6)
    alt = {
        "transcript": transcript(words),
        "confidence": alt_confidence(words),
        "words": words,
        "paragraphs": paragraphs(paras, diarized=False),
    }
    return {
        "metadata": metadata(rng, "field-notes-ep12-intro.mp3", "2025-09-16T14:02:11.512Z", duration),
        "results": {"channels": [{"alternatives": [alt]}]},
    }


# --------------------------------------------------------------------------- (b) diarized call


CALL = [  # (speaker, [sentences]); speaker 0 is the agent, 1 the customer
    (0, ["Thanks for calling Northwind support, this is Sam.", "How can I help?"]),
    (1, ["Hi Sam.", "My new standing desk arrived with a *cracked* leg."]),
    (0, ["Sorry about that.", "Can I have your order number?"]),
    (1, ["Sure, it's 47192|47192."]),
    (0, ["Thank you.", "I can send a replacement leg or give you a full refund."]),
    (1, ["A refund, please."]),
    (0, ["No problem.", "The refund goes back to your card in 3|3 to 5|5 business days."]),
]


def call() -> Json:
    rng = random.Random(202)
    sp = Speech(2, t0=0.48)
    spk_conf = {0: 0.87, 1: 0.79}
    paras = []
    for turn, (speaker, sents) in enumerate(CALL):
        if turn:
            sp.wait(0.35)
        paras.append([sp.sentence(s, speaker=speaker, spk_conf=spk_conf[speaker]) for s in sents])
        if turn == 3:
            sp.wait(1.1)  # the agent types the order number in
    words = [w for p in paras for s in p for w in s]
    duration = round(words[-1]["end"] + 1.274, 6)
    a, b = span(words, "full refund")
    c, _ = span(words, "a refund")
    e, f = span(words, "the refund")
    search = [
        {
            "query": "refund",
            "hits": [
                {
                    "confidence": 1,
                    "start": words[c + 1]["start"],
                    "end": words[c + 1]["end"],
                    "snippet": "refund",
                },
                {
                    "confidence": 1,
                    "start": words[a]["start"],
                    "end": words[b - 1]["end"],
                    "snippet": "full refund",
                },
                {
                    "confidence": 0.9653125,
                    "start": words[e]["start"],
                    "end": words[f - 1]["end"],
                    "snippet": "the refund",
                },
                {
                    "confidence": 0.1875,
                    "start": words[4]["start"],
                    "end": words[4]["end"],
                    "snippet": "support",
                },
            ],
        },
        {"query": "warranty", "hits": []},
    ]
    alt = {
        "transcript": transcript(words),
        "confidence": alt_confidence(words),
        "words": words,
        "paragraphs": paragraphs(paras, diarized=True),
    }
    meta = metadata(rng, "northwind-call-0917.wav", "2025-09-17T09:41:27.083Z", duration)
    meta["extra"] = {"ticket": "NW-20931", "queue": "returns"}
    return {
        "metadata": meta,
        "results": {
            "channels": [{"search": search, "alternatives": [alt]}],
            "utterances": utterances(rng, words),
        },
    }


# --------------------------------------------------------------------------- (c) two-channel call


STEREO = [  # (channel, sentence); channel 0 is the agent's line, 1 the caller's
    (0, "Good afternoon, Harbor Clinic, you're speaking with Lena."),
    (1, "Hello, I'd like to move my appointment on Thursday."),
    (
        0,
        "Of course.",
    ),
    (0, "What's your date of birth?"),
    (1, "March 14th|14th, 1986|1986."),
    (
        0,
        "Thanks.",
    ),
    (0, "I have Friday at 10:30|10:30 AM or Monday at 2|2 PM."),
    (1, "Friday works, thank you."),
    (0, "You're all set for Friday at 10:30|10:30."),
]


def stereo() -> Json:
    rng = random.Random(303)
    sp = Speech(3, t0=0.21)
    chans: list[list[Json]] = [[], []]
    prev = None
    for ch, sentence in STEREO:
        if prev is not None and ch != prev:
            sp.wait(0.3)
        chans[ch].extend(sp.sentence(sentence))
        prev = ch
    duration = round(max(ws[-1]["end"] for ws in chans) + 0.9, 6)
    channels = []
    for ci, ws in enumerate(chans):
        channels.append(
            {
                "alternatives": [
                    {"transcript": transcript(ws), "confidence": alt_confidence(ws), "words": ws}
                ],
                "detected_language": "en",
                "language_confidence": [0.99316406, 0.97753906][ci],
            }
        )
    utts = utterances(rng, chans[0], channel=0) + utterances(rng, chans[1], channel=1)
    utts.sort(key=lambda u: u["start"])
    return {
        "metadata": metadata(
            rng, "harbor-clinic-line3.wav", "2025-09-18T16:05:52.947Z", duration, channels=2
        ),
        "results": {"channels": channels, "utterances": utts},
    }


# --------------------------------------------------------------------------- (d) audio intelligence


MEETING = [  # (sentiment score of the sentence, sentence)
    (0.05, "Okay, quick update on the Lisbon office move."),
    (-0.62, "The lease signing slipped again, and honestly the landlord has been really difficult."),
    (-0.41, "We lost another week and the movers charged us a 1200|$1,200 *rebooking* fee."),
    (0.12, "Maria Costa from facilities is now handling the contract with Atlas Property."),
    (0.71, "The good news is the new floor plan looks great, and the team loves it."),
    (0.08, "Can everyone send me their desk preferences by October 3rd|3rd?"),
    (0.55, "Thanks, I'll share the final schedule on Friday."),
]


def label(score: float) -> str:
    return "positive" if score >= 0.333 else "negative" if score <= -0.333 else "neutral"


def meeting() -> Json:
    rng = random.Random(404)
    sp = Speech(4, t0=0.6)
    sents = [sp.sentence(s) for _, s in MEETING]
    words = []
    segs = []
    for (score, _), ws in zip(MEETING, sents, strict=True):
        first = len(words)
        for w in ws:
            s = max(-1.0, min(1.0, score * rng.uniform(0.2, 1.1) + rng.uniform(-0.08, 0.08)))
            w["sentiment"] = label(s)
            w["sentiment_score"] = round(s, 16)
        words.extend(ws)
        segs.append((first, len(words) - 1, score, transcript(ws)))
    # sentiment segments: sentences 1-2 form one negative segment, as Deepgram merges like neighbours
    sent_segments = []
    for group in ([0], [1, 2], [3], [4], [5, 6]):
        sw, ew = segs[group[0]][0], segs[group[-1]][1]
        score = sum(segs[i][2] for i in group) / len(group)
        text = " ".join(segs[i][3] for i in group)
        sent_segments.append(
            {
                "text": text,
                "start_word": sw,
                "end_word": ew,
                "sentiment": label(score),
                "sentiment_score": score,
            }
        )
    avg = sum(s["sentiment_score"] * (s["end_word"] - s["start_word"] + 1) for s in sent_segments) / len(
        words
    )

    def seg(i: int, j: int) -> tuple[str, int, int]:
        return " ".join(segs[k][3] for k in range(i, j + 1)), segs[i][0], segs[j][1]

    t1, s1, e1 = seg(0, 2)
    t2, s2, e2 = seg(3, 4)
    t3, s3, e3 = seg(5, 5)
    topics = {
        "segments": [
            {"text": t1, "start_word": s1, "end_word": e1,
             "topics": [{"topic": "Office relocation", "confidence_score": 0.7841797},
                        {"topic": "Lease delays", "confidence_score": 0.41015625}]},
            {"text": t2, "start_word": s2, "end_word": e2,
             "topics": [{"topic": "Floor plan", "confidence_score": 0.6230469}]},
        ]
    }  # fmt: skip
    intents = {
        "segments": [
            {"text": t3, "start_word": s3, "end_word": e3,
             "intents": [{"intent": "Request desk preferences", "confidence_score": 0.8876953}]},
            {"text": segs[6][3], "start_word": segs[6][0], "end_word": segs[6][1],
             "intents": [{"intent": "Share schedule", "confidence_score": 0.53125}]},
        ]
    }  # fmt: skip
    entities = []
    for lab, phrase, value in (
        ("LOCATION", "Lisbon", "Lisbon"),
        ("MONEY", "1200", "$1,200"),
        ("NAME", "Maria Costa", "Maria Costa"),
        ("ORG", "Atlas Property", "Atlas Property"),
        ("DATE", "October 3rd", "October 3rd"),
        ("DATE", "Friday", "Friday"),
    ):
        sw, ew = span(words, phrase)
        raw = " ".join(w["word"] for w in words[sw:ew])
        conf = round(rng.uniform(0.93, 0.9999), 7)
        entities.append(
            {
                "label": lab,
                "value": value,
                "raw_value": raw,
                "confidence": conf,
                "start_word": sw,
                "end_word": ew,
            }
        )
    duration = round(words[-1]["end"] + 0.8, 6)
    meta = metadata(rng, "lisbon-move-standup.m4a", "2025-09-19T08:15:03.221Z", duration)
    n_tokens = len(words) + 41
    meta.update(
        summary_info={"model_uuid": INTEL_LLM, "input_tokens": n_tokens, "output_tokens": 39},
        sentiment_info={"model_uuid": INTEL_LLM, "input_tokens": n_tokens, "output_tokens": n_tokens},
        topics_info={"model_uuid": INTEL_LLM, "input_tokens": n_tokens, "output_tokens": 11},
        intents_info={"model_uuid": INTEL_LLM, "input_tokens": n_tokens, "output_tokens": 9},
        warnings=[
            {
                "type": "unsupported_parameter",
                "parameter": "keywords",
                "message": "keywords is not supported by nova-3 and was ignored; use keyterm instead",
            }
        ],
    )
    alt = {
        "transcript": transcript(words),
        "confidence": alt_confidence(words),
        "words": words,
        "entities": entities,
    }
    return {
        "metadata": meta,
        "results": {
            "channels": [{"alternatives": [alt]}],
            "summary": {
                "result": "success",
                "short": (
                    "The Lisbon office move is delayed: the lease signing slipped a week and the movers charged "
                    "a $1,200 rebooking fee. Maria Costa now handles the Atlas Property contract. The team likes "
                    "the new floor plan; desk preferences are due October 3rd and the schedule comes on Friday."
                ),
            },
            "topics": topics,
            "intents": intents,
            "sentiments": {
                "segments": sent_segments,
                "average": {"sentiment": label(avg), "sentiment_score": avg},
            },
        },
    }


# --------------------------------------------------------------------------- (e) streaming capture


def stream() -> list[Json]:
    """A /v1/listen websocket session: interim_results, vad_events, utterance_end_ms=1000, smart_format."""
    rng = random.Random(505)
    request_id = uid(rng)
    sp = Speech(5, t0=0.3)
    first = sp.sentence("Hey, can you check the build status for me?")
    sp.wait(1.6)
    second = sp.sentence("And restart the *deploy* if it failed.")
    msg_meta = {"request_id": request_id, "model_info": dict(NOVA3_INFO), "model_uuid": NOVA3}

    def results(words: list[Json], start: float, end: float, *, is_final: bool, speech_final: bool,
                from_finalize: bool = False) -> Json:  # fmt: skip
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round(end - start, 2),
            "start": start,
            "is_final": is_final,
            "speech_final": speech_final,
            "channel": {"alternatives": [{"transcript": transcript(words), "confidence": alt_confidence(words),
                                          "words": words}]},
            "metadata": msg_meta,
            "from_finalize": from_finalize,
        }  # fmt: skip

    def after(w: Json, pad: float) -> float:
        return round(w["end"] + pad, 2)

    f1 = after(first[5], 0.06)  # the first final result ends mid-sentence
    f2 = after(first[-1], 0.4)
    f3 = round(f2 + 1.0, 2)  # a final result holding only silence
    end = after(second[-1], 0.3)
    msgs: list[Json] = [
        {"type": "SpeechStarted", "channel": [0, 1], "timestamp": round(first[0]["start"] - 0.1, 2)},
        results(first[:3], 0.0, after(first[2], 0.1), is_final=False, speech_final=False),
        results(first[:5], 0.0, after(first[4], 0.1), is_final=False, speech_final=False),
        results(first[:6], 0.0, f1, is_final=True, speech_final=False),
        results(first[6:], f1, f2, is_final=True, speech_final=True),
        results([], f2, f3, is_final=True, speech_final=False),
        {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": first[-1]["end"]},
        {"type": "SpeechStarted", "channel": [0, 1], "timestamp": round(second[0]["start"] - 0.08, 2)},
        results(second[:4], f3, after(second[3], 0.1), is_final=False, speech_final=False),
        results(second, f3, end, is_final=True, speech_final=True, from_finalize=True),  # after Finalize
    ]
    msgs.append(
        {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": request_id,
            "sha256": sha("live-mic-session"),
            "created": "2025-09-20T11:30:44.615Z",
            "duration": end,
            "channels": 1,
            "models": [NOVA3],
            "model_info": {NOVA3: dict(NOVA3_INFO)},
        }
    )
    return msgs


# --------------------------------------------------------------------------- (f) silence


def silence() -> Json:
    rng = random.Random(606)
    return {
        "metadata": metadata(rng, "hold-music-gap.wav", "2025-09-21T07:59:12.004Z", 6.4),
        "results": {"channels": [{"alternatives": [{"transcript": "", "confidence": 0.0, "words": []}]}]},
    }


# --------------------------------------------------------------------------- output


def dumps(obj: Any, indent: int = 0) -> str:
    """JSON with 2-space indentation, but any object or list holding no containers on one line."""
    flat = not any(isinstance(v, (dict, list)) for v in (obj.values() if isinstance(obj, dict) else obj)) \
        if isinstance(obj, (dict, list)) else True  # fmt: skip
    if flat:
        return json.dumps(obj, ensure_ascii=False)
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    items = [inner + dumps(v, indent + 2) for v in obj]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    files = {
        "podcast_mono.json": podcast(),
        "support_call_diarized.json": call(),
        "clinic_call_stereo.json": stereo(),
        "standup_intelligence.json": meeting(),
        "silence.json": silence(),
    }
    for name, obj in files.items():
        (OUT / name).write_text(dumps(obj) + "\n", encoding="utf-8")
    lines = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in stream())
    (OUT / "live_session.jsonl").write_text(lines, encoding="utf-8")
    for p in sorted(OUT.glob("*.json*")):
        print(f"{p.stat().st_size:>7,} bytes  {p.relative_to(OUT.parent.parent)}")


if __name__ == "__main__":
    main()
