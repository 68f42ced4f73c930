"""A stock boto3 client configured only by the environment; makes the calls in argv[1] (JSON list of
{"service", "method", "params"}) and prints one JSON result per call: {"ok": true, "data": <response without
ResponseMetadata>} or {"ok": false, "code": <error code>, "message": ...}."""
import json
import sys

import boto3
from botocore.exceptions import ClientError

calls = json.loads(sys.argv[1])
clients = {}
results = []
for call in calls:
    service = call["service"]
    if service not in clients:
        clients[service] = boto3.client(service)
    try:
        data = getattr(clients[service], call["method"])(**call.get("params", {}))
        data.pop("ResponseMetadata", None)
        results.append({"ok": True, "data": data})
    except ClientError as error:
        results.append({"ok": False, "code": error.response.get("Error", {}).get("Code"), "message": str(error)})
    except Exception as error:  # noqa: BLE001 - a client-side failure is a result too
        results.append({"ok": False, "code": type(error).__name__, "message": str(error)})
print(json.dumps(results, default=str))
