"""A static check of model files that runs nothing: which Python globals would their pickles import and call?

A pickle is a program: ``GLOBAL``/``STACK_GLOBAL``/``INST`` import any callable and ``REDUCE``/``NEWOBJ``/``BUILD``
call it, so unpickling a file someone uploads runs whatever they wrote (``os.system``, ``pathlib.Path.touch``…).
This module reads the opcodes with :func:`pickletools.genops` (which decodes, never executes) and refuses a file
that names a global outside an allow-list, before anything loads it. Loaders still load with
``torch.load(weights_only=True)``: the scan is the cheap first gate a web request can afford, not the only one.

Every callable a pickle can call comes from ``GLOBAL``/``STACK_GLOBAL``/``INST`` (or the copyreg extension
registry, ``EXT1/2/4``, which is refused outright), so checking those names bounds what ``REDUCE`` can run.
"""

from __future__ import annotations

import _compat_pickle
import functools
import io
import pickletools
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

# Bytes of pickle read from one file at most: a model's pickle holds structure only (tensor bytes are stored
# beside it in the zip), a few MB even for large detectors.
MAX_PICKLE_BYTES = 64 * 1024 * 1024

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
_MEMO_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_EXTENSION_OPS = {"EXT1", "EXT2", "EXT4"}


class UnsafeFileError(ValueError):
    """The file is not a model file this installation will load: it names code to run, or is not a pickle at all."""


Global = tuple[str, str]  # (module, name) as the unpickler's find_class receives them


def pickle_globals(data: bytes, max_pickles: int = 1) -> list[Global]:
    """The ``(module, name)`` of every global the pickle(s) in ``data`` would import, in order; up to ``max_pickles``
    pickles written one after another are read (the legacy ``torch.save`` format writes five, then raw storage
    bytes, which are not read).

    Raises :class:`UnsafeFileError` for bytes that are not a pickle, a global whose name cannot be read without
    running the pickle, or a copyreg extension code.
    """
    found: list[Global] = []
    stream = io.BytesIO(data)
    for _ in range(max_pickles):
        if stream.tell() >= len(data):
            break
        found.extend(_globals_of_one(stream))
    return found


def _python3_name(module: str, name: str) -> Global:
    # Protocol 0-2 pickles name Python 2 modules (``__builtin__.set``); the unpickler maps them as pickle does.
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _globals_of_one(stream: io.BytesIO) -> Iterator[Global]:
    # STACK_GLOBAL takes module and name from the stack: follow the strings pushed and memoised before it. A
    # name built any other way could only be known by running the pickle, so it is refused (fail closed).
    memo: dict[int, str | None] = {}
    recent: list[str | None] = []
    memo_next = 0
    try:
        for opcode, arg, _pos in pickletools.genops(stream):
            name = opcode.name
            if name in _STRING_OPS:
                recent.append(arg if isinstance(arg, str) else arg.decode("latin-1") if isinstance(arg, bytes) else None)
            elif name == "MEMOIZE":
                memo[memo_next] = recent[-1] if recent else None
                memo_next += 1
            elif name in _MEMO_PUT_OPS:
                memo[int(arg)] = recent[-1] if recent else None
            elif name in _MEMO_GET_OPS:
                recent.append(memo.get(int(arg)))
            elif name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                yield _python3_name(module, attr)
                recent.append(None)
            elif name == "STACK_GLOBAL":
                module, attr = (recent[-2], recent[-1]) if len(recent) >= 2 else (None, None)
                if module is None or attr is None:
                    raise UnsafeFileError("the file builds the name of a Python object to import in a way only running it would reveal")
                yield _python3_name(module, attr)
                recent.append(None)
            elif name in _EXTENSION_OPS:
                raise UnsafeFileError(f"the file imports a Python object through the copyreg extension registry ({name})")
            elif name == "STOP":
                return
            else:
                recent.append(None)
            del recent[:-2]
    except (ValueError, EOFError, UnicodeDecodeError) as exc:
        if isinstance(exc, UnsafeFileError):
            raise
        raise UnsafeFileError(f"not a PyTorch or pickle file ({exc})") from None


# torch.load of a non-zip file reads five pickles (magic number, protocol, system info, the object, storage keys).
LEGACY_TORCH_PICKLES = 5


def file_pickles(path: Path, max_pickle_bytes: int = MAX_PICKLE_BYTES) -> Iterator[tuple[str, bytes, int]]:
    """The pickles a PyTorch loader would read from ``path``: every ``*.pkl`` member of a ``torch.save`` zip, or
    the file's leading pickles for the legacy (plain pickle) format. Yields ``(member name, bytes, pickles)``."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if m.filename.endswith(".pkl")]
            if not any(m.filename.rsplit("/", 1)[-1] == "data.pkl" for m in members):
                raise UnsafeFileError("a zip file without the data.pkl of a torch.save() checkpoint")
            total = sum(m.file_size for m in members)
            if total > max_pickle_bytes:
                raise UnsafeFileError(f"the file holds {total} bytes of pickle, over the {max_pickle_bytes}-byte limit")
            for member in members:
                yield member.filename, archive.read(member), 1
        return
    with open(path, "rb") as fh:
        data = fh.read(max_pickle_bytes)
    yield path.name, data, LEGACY_TORCH_PICKLES


def check_pickled_file(path: Path, allowed: Callable[[str, str], bool], what: str = "a model file") -> None:
    """Raise :class:`UnsafeFileError` naming the globals outside ``allowed(module, name)`` that ``path``'s pickles
    import."""
    for member, data, pickles in file_pickles(path):
        try:
            names = pickle_globals(data, pickles)
        except UnsafeFileError as exc:
            raise UnsafeFileError(f"refused: {exc} (in {member})") from None
        refused = sorted({f"{module}.{name}" for module, name in names if not allowed(module, name)})
        if refused:
            shown = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
            raise UnsafeFileError(f"refused: the file's pickle would import and run {shown}, which {what} never needs; nothing was loaded")


@functools.cache
def torch_tensor_globals() -> frozenset[str]:
    """The globals ``torch.load(weights_only=True)`` allows by default: tensors, storages, dtypes, plain containers."""
    from torch._weights_only_unpickler import _get_allowed_globals

    return frozenset(_get_allowed_globals())


def tensor_file_allowed(module: str, name: str) -> bool:
    """Allow-list of a tensors-and-plain-data artifact (``torch.save`` of dicts, lists, numbers, strings, tensors)."""
    return f"{module}.{name}" in torch_tensor_globals()


def check_tensor_file(path: Path) -> None:
    """Static check of a ``torch.save`` file of tensors and plain data (every family's artifact but the detector's)."""
    check_pickled_file(path, tensor_file_allowed)
