"""Local endpoints that answer like SageMaker InvokeEndpoint, with data capture to S3.

One HTTP server on 127.0.0.1 hosts every emulated endpoint at `/endpoints/<name>/invocations`,
so boto3's own `sagemaker-runtime` client, given the server as endpoint URL, calls it unchanged.
What an endpoint serves comes from the registered version, as a SageMaker model created from a
ModelPackageName does: its container's image, artifact and environment (`registered_container`),
checked under the built-in XGBoost serving container's rules (`serving_container_problems`) before
anything changes. Two ways to serve, as the container has them:
- the built-in algorithm (no SAGEMAKER_PROGRAM): the artifact loaded with xgboost; CSV scores, or
  the algorithm's JSON `{"predictions": [{"score": s}]}`; no Accept means text/csv;
- script mode (SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY): the source archive downloaded
  and its program imported, then `model_fn`, `input_fn`, `predict_fn`, `output_fn` called as
  sagemaker-containers' Transformer calls them; no Accept means SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT,
  JSON when unset (the platform's inference script gives reasons for JSON: docs/serving.md).
Requests and responses are captured in SageMaker's data-capture JSON lines, each with its own
content type, under `<capture prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/` in the capture bucket.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import sys
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from finmlops.serving.capture import capture_record
from finmlops.serving.inference import RequestError, UnsupportedFormatError, format_scores
from finmlops.steps.evaluate import load_booster

VARIANT = "AllTraffic"
# Where SageMaker extracts the model artifact in the container.
MODEL_DIR = "/opt/ml/model"
CSV = "text/csv"
JSON = "application/json"

# The SageMaker built-in XGBoost algorithm image (any account, region and version tag).
XGBOOST_IMAGE = re.compile(
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/sagemaker-xgboost:[0-9][\w.-]*$"
)
# The SAGEMAKER_* variables the XGBoost serving stack reads: sagemaker-containers' _params.py and
# _env.py (ServingEnv) and sagemaker-xgboost-container's serving.py / serving_mms.py.
SERVING_VARIABLES = frozenset(
    {
        "SAGEMAKER_PROGRAM", "SAGEMAKER_SUBMIT_DIRECTORY", "SAGEMAKER_CONTAINER_LOG_LEVEL",
        "SAGEMAKER_REGION", "SAGEMAKER_ENABLE_CLOUDWATCH_METRICS", "SAGEMAKER_BASE_DIR",
        "SAGEMAKER_BIND_TO_PORT", "SAGEMAKER_SAFE_PORT_RANGE", "SAGEMAKER_USE_NGINX",
        "SAGEMAKER_MODEL_SERVER_TIMEOUT", "SAGEMAKER_MODEL_SERVER_WORKERS",
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "SAGEMAKER_SERVING_MODULE", "SAGEMAKER_MULTI_MODEL",
        "SAGEMAKER_MAX_REQUEST_SIZE", "SAGEMAKER_NUM_MODEL_WORKERS", "SAGEMAKER_MODEL_JOB_QUEUE_SIZE",
        "SAGEMAKER_MAX_HEAP_SIZE", "SAGEMAKER_MAX_DIRECT_MEMORY_SIZE", "SAGEMAKER_BATCH",
        "SAGEMAKER_INFERENCE_OUTPUT", "SAGEMAKER_INFERENCE_ENSEMBLE",
        "SAGEMAKER_DISABLE_CONTAINER_SUPPORT", "SAGEMAKER_MMS_DEFAULT_HANDLER",
        "SAGEMAKER_MMS_LOAD_MODELS", "SAGEMAKER_MMS_MODEL_STORE",
    }
)  # fmt: skip


class ServingContainerError(ValueError):
    """A container the serving stack would not serve; nothing was deployed."""


def serving_container_problems(
    container: Mapping[str, Any], *, network_isolation: bool = False
) -> list[str]:
    """Why the built-in XGBoost serving container would fail with this container definition.

    - An empty environment value is still a value: sagemaker-containers reads
      `os.environ.get("SAGEMAKER_PROGRAM", None)`, so `""` makes xgboost-container's
      `serving.main` call `importlib.import_module("")` ("Empty module name"), and the numeric
      settings are `int("")`. Every request fails, the ping included.
    - A SAGEMAKER_* name the stack does not read is a misspelling that silently does nothing
      on AWS; here it is refused, so it is found.
    - SAGEMAKER_PROGRAM (script mode) needs the user's code: sagemaker-containers'
      `_modules.import_module(env.module_dir, ...)` downloads SAGEMAKER_SUBMIT_DIRECTORY, an
      s3:// tar.gz, and imports the program from it; without it there is nothing to import.
      A model with network isolation cannot download it ("the container can't make any outbound
      network calls", CreateModel EnableNetworkIsolation): the source must be a folder of the
      model artifact, which SageMaker itself extracts into /opt/ml/model.
    """
    problems = []
    image = str(container.get("Image", ""))
    if not XGBOOST_IMAGE.match(image):
        problems.append(f"Image {image!r} is not the SageMaker built-in XGBoost image")
    if not str(container.get("ModelDataUrl", "")).startswith("s3://"):
        problems.append("ModelDataUrl is not an s3:// model artifact")
    environment = container.get("Environment") or {}
    for key, value in sorted(environment.items()):
        if str(value) == "":
            problems.append(
                f"Environment {key} is empty: the serving stack reads an empty value as set "
                "(for SAGEMAKER_PROGRAM it imports the module named '')"
            )
        elif key.startswith("SAGEMAKER_") and key not in SERVING_VARIABLES:
            problems.append(f"Environment {key} is not a variable the serving stack reads")
    program = str(environment.get("SAGEMAKER_PROGRAM") or "")
    submit = str(environment.get("SAGEMAKER_SUBMIT_DIRECTORY") or "")
    if program and not (
        (submit.startswith("s3://") and submit.endswith(".tar.gz"))
        or submit.startswith(MODEL_DIR + "/")
    ):
        problems.append(
            f"Environment SAGEMAKER_PROGRAM {program!r} asks for script mode, but "
            f"SAGEMAKER_SUBMIT_DIRECTORY {submit!r} is neither the s3:// tar.gz of its source "
            f"nor a folder inside the model artifact ({MODEL_DIR}/...)"
        )
    elif program and submit.startswith("s3://") and network_isolation:
        problems.append(
            f"SAGEMAKER_SUBMIT_DIRECTORY {submit!r} is on S3, but the model runs with network "
            "isolation: the container cannot download it (ship it inside the model artifact)"
        )
    return problems


def registered_container(sagemaker: Any, model_package_arn: str) -> dict[str, Any]:
    """The container a SageMaker model made from this version runs (a ModelPackageName model
    takes the version's InferenceSpecification; the platform registers one container)."""
    described = sagemaker.describe_model_package(ModelPackageName=model_package_arn)
    containers = (described.get("InferenceSpecification") or {}).get("Containers") or []
    if len(containers) != 1:
        raise ServingContainerError(
            f"{model_package_arn}: expected one inference container, found {len(containers)}"
        )
    return dict(containers[0])


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


class Handler:
    """What one container does with a request: (body, content type) in, (body, content type) out."""

    def __init__(self, default_accept: str) -> None:
        self.default_accept = default_accept

    def accept(self, header: str | None) -> str:
        # Both serving stacks: no Accept, or */*, is the default (algorithm mode's _parse_accept,
        # sagemaker-containers' Request.accept).
        return self.default_accept if _media_type(header) in {"", "*/*"} else str(header)

    def transform(self, body: str, content_type: str, accept: str) -> tuple[str, str]:
        raise NotImplementedError


class AlgorithmHandler(Handler):
    """The built-in algorithm: CSV in; CSV scores or `{"predictions": [{"score": s}]}` out
    (sagemaker-xgboost-container algorithm_mode/serve.py and serve_utils.py)."""

    def __init__(self, booster: xgb.Booster, default_accept: str) -> None:
        super().__init__(default_accept)
        self.booster = booster

    def transform(self, body: str, content_type: str, accept: str) -> tuple[str, str]:
        from finmlops.serving.inference import parse_csv

        if _media_type(content_type) != CSV:
            raise UnsupportedFormatError(f"content type {content_type!r}: send {CSV}")
        rows = parse_csv(body, self.booster.num_features())
        scores = self.booster.predict(xgb.DMatrix(rows, missing=np.nan))
        media = _media_type(accept)
        if media == CSV:
            return format_scores(scores), CSV
        if media == JSON:
            predictions = [{"score": round(float(s), 6)} for s in scores]
            return json.dumps({"predictions": predictions}, separators=(",", ":")), JSON
        raise UnsupportedFormatError(f"accept {accept!r} is not supported")


class ScriptHandler(Handler):
    """Script mode: the user module's hooks, called in the order sagemaker-containers'
    `Transformer` calls them (`initialize`: model_fn once; `transform`: input_fn, predict_fn,
    output_fn; a tuple answer is (body, content type))."""

    def __init__(self, module: Any, model_dir: Path, default_accept: str) -> None:
        super().__init__(default_accept)
        self.module = module
        self.model = module.model_fn(str(model_dir))

    def transform(self, body: str, content_type: str, accept: str) -> tuple[str, str]:
        # The transformer passes text for exactly text/csv or application/json, bytes otherwise.
        content: str | bytes = (
            body
            if _media_type(content_type) in {CSV, JSON} and ";" not in (content_type)
            else body.encode()
        )
        try:
            data = self.module.input_fn(content, content_type)
            prediction = self.module.predict_fn(data, self.model)
            result = self.module.output_fn(prediction, accept)
        except Exception as exc:
            # Whatever the user module raises (415/406 for an unsupported format, 500 for the
            # rest in the container), InvokeEndpoint answers ModelError.
            raise ValueError(f"{type(exc).__name__}: {exc}") from None
        answer, media = result if isinstance(result, tuple) else (result, accept)
        return (answer.decode() if isinstance(answer, bytes) else str(answer)), str(media)


def import_program(source: Path, program: str, unique: str) -> Any:
    """The program imported from its extracted source directory, as sagemaker-containers does
    (under a name unique to the deployment here: one process hosts many endpoints)."""
    path = source / program
    if not path.is_file():
        raise ServingContainerError(f"SAGEMAKER_PROGRAM {program!r} is not in the source archive")
    spec = importlib.util.spec_from_file_location(f"finmlops_served_{unique}", path)
    if spec is None or spec.loader is None:
        raise ServingContainerError(f"SAGEMAKER_PROGRAM {program!r} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Endpoint:
    name: str
    model_package_arn: str
    handler: Handler
    capture_bucket: str
    capture_prefix: str
    buffer: list[dict[str, Any]] = field(default_factory=list)
    invocations: int = 0


class LocalEndpoints:
    """The emulated endpoints of every environment, behind one local HTTP server."""

    def __init__(
        self, s3: Any, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.s3 = s3
        self.clock = clock
        self.endpoints: dict[str, Endpoint] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ---------- deployment ----------
    def deploy(
        self,
        name: str,
        *,
        container: Mapping[str, Any],
        model_package_arn: str,
        capture_bucket: str,
        capture_prefix: str,
        network_isolation: bool = False,
    ) -> None:
        """Check the container under the serving stack's rules, load its artifact from S3 and
        (re)point the endpoint at it; captured data is kept. A refused container changes nothing:
        the endpoint keeps serving what it served."""
        problems = serving_container_problems(container, network_isolation=network_isolation)
        if problems:
            raise ServingContainerError(
                f"endpoint {name} would not serve {model_package_arn}: " + "; ".join(problems)
            )
        handler = self._load(container)
        with self._lock:
            old = self.endpoints.get(name)
            if old is not None:
                self._flush(old)
            self.endpoints[name] = Endpoint(
                name, model_package_arn, handler, capture_bucket, capture_prefix
            )

    def _download(self, url: str, to: Path) -> Path:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        self.s3.download_file(bucket, key, str(to))
        return to

    def _load(self, container: Mapping[str, Any]) -> Handler:
        environment = container.get("Environment") or {}
        program = str(environment.get("SAGEMAKER_PROGRAM") or "")
        with tempfile.TemporaryDirectory() as tmp:
            archive = self._download(str(container["ModelDataUrl"]), Path(tmp) / "model.tar.gz")
            if not program:
                return AlgorithmHandler(
                    load_booster(archive),
                    str(environment.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or CSV),
                )
            # SageMaker extracts the artifact into /opt/ml/model and the source into /opt/ml/code.
            model_dir = Path(tmp) / "model"
            with tarfile.open(archive) as tar:
                tar.extractall(model_dir, filter="data")
            submit = str(environment["SAGEMAKER_SUBMIT_DIRECTORY"])
            if submit.startswith("s3://"):
                code_dir = Path(tmp) / "code"
                source = self._download(submit, Path(tmp) / "sourcedir.tar.gz")
                with tarfile.open(source) as tar:
                    tar.extractall(code_dir, filter="data")
            else:  # a folder of the artifact (sagemaker-containers copies a local folder)
                code_dir = model_dir / submit.removeprefix(MODEL_DIR + "/")
            module = import_program(code_dir, program, uuid.uuid4().hex)
            return ScriptHandler(
                module,
                model_dir,
                str(environment.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or JSON),
            )

    def deployed(self, name: str) -> str | None:
        endpoint = self.endpoints.get(name)
        return endpoint.model_package_arn if endpoint else None

    # ---------- serving ----------
    def invoke(self, name: str, body: str, inference_id: str | None = None) -> str:
        """A CSV request with no Accept header: the answer's body."""
        return self.answer(name, body, inference_id)[0]

    def answer(
        self,
        name: str,
        body: str,
        inference_id: str | None = None,
        *,
        content_type: str = CSV,
        accept: str | None = None,
    ) -> tuple[str, str]:
        """(body, content type) of one InvokeEndpoint; ValueError (a ModelError) when the
        container refuses the request (UnsupportedFormatError is 415/406 in the container)."""
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise KeyError(f"Endpoint {name} not found")
        handler = endpoint.handler
        try:
            response, response_type = handler.transform(body, content_type, handler.accept(accept))
        except UnsupportedFormatError as exc:
            raise ValueError(str(exc)) from None
        except RequestError as exc:
            raise ValueError(str(exc)) from None
        record = capture_record(
            body.strip(),
            response,
            event_id=str(uuid.uuid4()),
            inference_id=inference_id,
            at=self.clock(),
            request_type=_media_type(content_type) or CSV,
            response_type=_media_type(response_type),
        )
        with self._lock:
            endpoint.buffer.append(record)
            endpoint.invocations += 1
        return response, response_type

    def flush(self) -> list[str]:
        """Write buffered captures to S3, one object per endpoint and hour; returns the keys."""
        with self._lock:
            return [key for endpoint in self.endpoints.values() for key in self._flush(endpoint)]

    def _flush(self, endpoint: Endpoint) -> list[str]:
        by_hour: dict[str, list[dict[str, Any]]] = {}
        for record in endpoint.buffer:
            at = datetime.strptime(record["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
            by_hour.setdefault(at.strftime("%Y/%m/%d/%H"), []).append(record)
        keys = []
        for hour, records in sorted(by_hour.items()):
            key = f"{endpoint.capture_prefix.strip('/')}/{endpoint.name}/{VARIANT}/{hour}/{uuid.uuid4()}.jsonl"
            body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
            self.s3.put_object(Bucket=endpoint.capture_bucket, Key=key, Body=body.encode())
            keys.append(key)
        endpoint.buffer.clear()
        return keys

    # ---------- HTTP ----------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the endpoint server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> LocalEndpoints:
        endpoints = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = self.path.strip("/").split("/")
                if len(parts) != 3 or parts[0] != "endpoints" or parts[2] != "invocations":
                    self._answer(404, {"message": f"no route {self.path}"})
                    return
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                try:
                    result, content_type = endpoints.answer(
                        parts[1],
                        body,
                        self.headers.get("X-Amzn-SageMaker-Inference-Id"),
                        content_type=self.headers.get("Content-Type") or CSV,
                        accept=self.headers.get("Accept"),
                    )
                except KeyError as exc:
                    self._answer(400, {"__type": "ValidationError", "message": str(exc).strip("'")})
                    return
                except ValueError as exc:
                    self._answer(424, {"__type": "ModelError", "message": str(exc)})
                    return
                payload = result.encode()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("x-Amzn-Invoked-Production-Variant", VARIANT)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _answer(self, status: int, document: dict[str, str]) -> None:
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-amzn-ErrorType", document.get("__type", "NotFound"))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Write the captures still buffered, then stop serving (even when the write fails)."""
        try:
            self.flush()
        finally:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None


def read_capture(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every capture record under a prefix, in key order."""
    records: list[dict[str, Any]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            records.extend(json.loads(line) for line in io.StringIO(body) if line.strip())
    return records
