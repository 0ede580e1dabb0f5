"""SageMaker data capture's record, defined once: what an endpoint's data capture writes per
request, and what the batch scoring job writes per scored row, so the drift and quality jobs
(finmlops.monitoring.readers, quality) read both alike.

One JSON line per inference (Developer Guide, model-monitor-data-capture: each line holds
`captureData` with `endpointInput` and `endpointOutput`, each an `observedContentType`, a `mode`,
the `data` and its `encoding`; and `eventMetadata` with `eventId`, the caller's `inferenceId` when
it sent one, and `inferenceTime`). With CaptureContentTypeHeader naming text/csv as CSV and
application/json as JSON (cdk/endpoint.py), text payloads are kept as text, not base64.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

CSV = "text/csv"
JSON = "application/json"
# The time format SageMaker writes in eventMetadata.inferenceTime (UTC, seconds).
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# The hour folders under <destination>/<endpoint>/<variant>/ that captures are written to.
HOUR_FOLDER = "%Y/%m/%d/%H"


def encoding(content_type: str) -> str:
    return "JSON" if "json" in content_type else "CSV"


def capture_record(
    request: str,
    response: str,
    *,
    event_id: str,
    inference_id: str | None,
    at: datetime,
    request_type: str = CSV,
    response_type: str = CSV,
) -> dict[str, Any]:
    """One line of SageMaker's data-capture format: each payload with the content type it had."""
    metadata: dict[str, str] = {"eventId": event_id, "inferenceTime": at.strftime(TIME_FORMAT)}
    if inference_id:
        metadata["inferenceId"] = inference_id
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": request_type,
                "mode": "INPUT",
                "data": request,
                "encoding": encoding(request_type),
            },
            "endpointOutput": {
                "observedContentType": response_type,
                "mode": "OUTPUT",
                "data": response,
                "encoding": encoding(response_type),
            },
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }
