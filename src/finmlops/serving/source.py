"""The inference script's source directory: `inference.py` and the reasons document built from
the config, packed as the `sourcedir.tar.gz` that `SAGEMAKER_SUBMIT_DIRECTORY` names.

sagemaker-containers (`_modules.import_module`) downloads that archive, extracts it into
/opt/ml/code and imports `SAGEMAKER_PROGRAM` from there, so `reasons.json` sits next to the
script. The archive is byte-stable for the same config and code, and its S3 key is
content-addressed: a change of texts or code is a new key, hence a new registered container.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from finmlops.config import Model

PROGRAM = "inference.py"
# The script is shipped alone and imports nothing of ours, so its constants are repeated here
# rather than imported (importing it would load xgboost into every caller of this module);
# tests/serving checks they agree.
SCRIPT = Path(__file__).with_name(PROGRAM)
REASONS_FILE = "reasons.json"
# The container's default answer to a request without Accept (or */*) is JSON (sagemaker-containers
# `ServingEnv.default_accept`); the platform's callers expect CSV scores.
DEFAULT_ACCEPT = "text/csv"


def reasons_document(model: Model) -> dict[str, Any]:
    """What `inference.model_fn` reads: features in the model's column order (preprocess writes
    numeric then categorical), texts, default and k."""
    return {
        "features": list(model.features),
        "texts": dict(sorted(model.reasons.texts.items())),
        "default_text": model.reasons.default_text,
        "top_k": model.reasons.top_k,
    }


def source_archive(model: Model) -> bytes:
    """sourcedir.tar.gz: the script and reasons.json, fixed times and owners (same input, same bytes)."""
    files = {
        PROGRAM: SCRIPT.read_bytes(),
        REASONS_FILE: (
            json.dumps(reasons_document(model), indent=1, sort_keys=True) + "\n"
        ).encode(),
    }
    return tar_gz(files)


def tar_gz(files: Mapping[str, bytes]) -> bytes:
    """A .tar.gz of `files` (name -> bytes) that is the same bytes for the same files: sorted
    names, no times, no owners (gzip's header time fixed too)."""
    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        for name, body in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(body))
    return raw.getvalue()


def source_key(archive: bytes) -> str:
    return f"code/sourcedir-{hashlib.sha256(archive).hexdigest()[:12]}.tar.gz"


def write_source_archive(model: Model, folder: Path) -> tuple[str, Path]:
    """The archive written to `folder`: its S3 key and the local file to upload there."""
    archive = source_archive(model)
    key = source_key(archive)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(key).name
    path.write_bytes(archive)
    return key, path


def serving_environment(submit_directory: str) -> dict[str, str]:
    """The registered container's environment for script mode (docs/decisions/0026)."""
    return {
        "SAGEMAKER_PROGRAM": PROGRAM,
        "SAGEMAKER_SUBMIT_DIRECTORY": submit_directory,
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": DEFAULT_ACCEPT,
    }
