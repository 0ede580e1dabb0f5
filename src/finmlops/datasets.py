"""Where a model's training data comes from: the three forms of `model.dataset.uri`, and the
confinement of the local ones.

- `package:NAME`: a file shipped in the package's data folder (`finmlops/data`), e.g.
  `package:lending_club.csv`. NAME is a relative path inside that folder.
- `s3://bucket/key`: an object (or, with a trailing `/`, a prefix) in S3; the pipeline reads it
  where it is, nothing is copied.
- anything else is a local path. A relative path is relative to the folder of the configuration
  file that names it (not to the current directory), and must stay inside that folder; a path
  written absolute is used as written.

The rules come in two passes. `parse_dataset_uri` is lexical (no file is touched), so a config
can be loaded anywhere, a processing job's copy included: `..` out of the package or the config's
folder, an unknown scheme or a malformed S3 URI is refused at load. `local_dataset_path` runs
when the file is needed (a local build, a synth or the emulator shipping it to S3): it follows
symlinks and refuses a file whose real location is outside the allowed folder, or that is not a
regular file. Nothing is read or copied before both passes have passed.

This module imports nothing from finmlops, so config.py can use it without a cycle.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Literal

PACKAGE_PREFIX = "package:"
S3_PREFIX = "s3://"

# S3 bucket naming rules (Amazon S3 User Guide, "General purpose bucket naming rules"): 3-63
# characters; lowercase letters, digits, dots and hyphens; begins and ends with a letter or
# digit; no two adjacent dots; not formatted as an IP address. Object keys are at most 1,024
# bytes of UTF-8 (User Guide, "Naming Amazon S3 objects").
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$", re.ASCII)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
MAX_KEY_BYTES = 1024

Kind = Literal["package", "s3", "local"]


class DatasetPathError(ValueError):
    """A dataset URI that breaks a rule above; the message says which and why."""


@dataclass(frozen=True)
class DatasetUri:
    """A parsed `model.dataset.uri`: its kind and the part after the prefix (the package name,
    the S3 URI itself, or the local path as written)."""

    kind: Kind
    value: str

    @property
    def bucket(self) -> str:
        return self.value.removeprefix(S3_PREFIX).split("/", 1)[0]


def parse_dataset_uri(uri: str) -> DatasetUri:
    """The kind of a dataset URI, after the lexical rules; raises DatasetPathError."""
    if "\x00" in uri:
        raise DatasetPathError("contains a NUL character")
    if uri != uri.strip():
        raise DatasetPathError("has leading or trailing white space")
    if uri.startswith(PACKAGE_PREFIX):
        name = uri.removeprefix(PACKAGE_PREFIX)
        _relative_inside(name, "the package's data folder", absolute_hint=False)
        return DatasetUri("package", name)
    if uri.startswith(S3_PREFIX):
        _check_s3(uri)
        return DatasetUri("s3", uri)
    if _SCHEME.match(uri):
        raise DatasetPathError(
            f"unknown scheme {uri.split('://', 1)[0]!r}: use package:NAME, s3://bucket/key "
            "or a local path"
        )
    if uri.startswith("~"):
        raise DatasetPathError("'~' is not expanded: write the path absolute or relative")
    if not PurePosixPath(uri).is_absolute():
        _relative_inside(uri, "the configuration's folder", absolute_hint=True)
    return DatasetUri("local", uri)


def _relative_inside(path: str, where: str, *, absolute_hint: bool) -> None:
    if not path:
        raise DatasetPathError("names no file")
    if "\\" in path:
        raise DatasetPathError("use '/' as the path separator")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise DatasetPathError(f"must be a relative path inside {where}")
    # Lexically: `data/../loans.csv` stays inside, `../loans.csv` leaves (symlinks are judged
    # when the file is resolved).
    if PurePosixPath(posixpath.normpath(path)).parts[:1] == ("..",):
        hint = " (write an absolute path to use a file elsewhere)" if absolute_hint else ""
        raise DatasetPathError(f"'..' would leave {where}{hint}")


def _check_s3(uri: str) -> None:
    rest = uri.removeprefix(S3_PREFIX)
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket or _IP_ADDRESS.match(bucket):
        raise DatasetPathError(
            f"{bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, dots, "
            "hyphens; begins and ends with a letter or digit)"
        )
    if not key:
        raise DatasetPathError("an S3 URI needs an object key: s3://bucket/key")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise DatasetPathError(f"the S3 key is longer than {MAX_KEY_BYTES} bytes")


def package_data_root() -> Path:
    """The real path of the folder the package ships its data sets in."""
    # finmlops.data has no __init__ (a namespace package, whose files() is a MultiplexedPath):
    # ask the regular package for its data folder.
    return Path(str(resources.files("finmlops").joinpath("data"))).resolve()


def local_dataset_path(uri: str, config_dir: Path | None) -> Path:
    """The real path of a `package:` or local dataset, confined as the module docstring says.

    `config_dir` is the folder of the configuration file (`Config.source_dir`); None for a
    config that was not read from a file, which then cannot use a relative path. Raises
    DatasetPathError for an S3 URI (there is no local file), a path out of its folder (symlinks
    followed), or anything but an existing regular file."""
    parsed = parse_dataset_uri(uri)
    if parsed.kind == "s3":
        raise DatasetPathError(
            "is in S3: a local build reads local files; download it first, or run the pipeline"
        )
    if parsed.kind == "package":
        root = package_data_root()
        return _confined(root / parsed.value, root, "the package's data folder")
    path = Path(parsed.value)
    if path.is_absolute():
        # Written absolute: the author chose the file; it must still be a regular file.
        return _regular_file(path.resolve(), path)
    if config_dir is None:
        raise DatasetPathError(
            "is relative, but this configuration was not read from a file: relative paths "
            "are relative to the configuration file's folder"
        )
    root = config_dir.resolve()
    return _confined(root / path, root, f"the configuration's folder ({root})")


def _confined(candidate: Path, root: Path, where: str) -> Path:
    real = candidate.resolve()
    if not real.is_relative_to(root):
        raise DatasetPathError(f"{candidate} resolves to {real}, outside {where}")
    return _regular_file(real, candidate)


def _regular_file(real: Path, written: Path) -> Path:
    if not real.exists():
        raise DatasetPathError(f"{written} does not exist")
    if not real.is_file():
        # Directories, devices (/dev/zero) and pipes are refused: the build and the synth copy
        # exactly one file.
        raise DatasetPathError(f"{written} is not a regular file")
    return real


__all__ = [
    "PACKAGE_PREFIX",
    "DatasetPathError",
    "DatasetUri",
    "local_dataset_path",
    "package_data_root",
    "parse_dataset_uri",
]
