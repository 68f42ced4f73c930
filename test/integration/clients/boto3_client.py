"""A stock boto3 client configured only by the environment; runs the steps in argv[1] (JSON)."""
import json
import sys

import boto3
from botocore.exceptions import ClientError

steps = json.loads(sys.argv[1])
results = []
s3 = boto3.client("s3")
ddb = boto3.client("dynamodb")
sm = boto3.client("secretsmanager")
sts = boto3.client("sts")
for step in steps:
    op = step["op"]
    try:
        data = None
        if op == "whoami":
            data = sts.get_caller_identity()["Arn"]
        elif op == "put":
            s3.put_object(Bucket=step["bucket"], Key=step["key"], Body=step["body"].encode())
        elif op == "get":
            data = s3.get_object(Bucket=step["bucket"], Key=step["key"])["Body"].read().decode()
        elif op == "list":
            data = [o["Key"] for o in s3.list_objects_v2(Bucket=step["bucket"]).get("Contents", [])]
        elif op == "deleteObject":
            s3.delete_object(Bucket=step["bucket"], Key=step["key"])
        elif op == "putItem":
            ddb.put_item(TableName=step["table"], Item=step["item"])
        elif op == "getItem":
            data = ddb.get_item(TableName=step["table"], Key=step["key"]).get("Item")
        elif op == "assumeRole":
            creds = sts.assume_role(RoleArn=step["roleArn"], RoleSessionName="nested")["Credentials"]
            data = {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"]}
        elif op == "putBytes":
            s3.put_object(Bucket=step["bucket"], Key=step["key"], Body=bytes.fromhex(step["hex"]))
        elif op == "getBytes":
            data = s3.get_object(Bucket=step["bucket"], Key=step["key"])["Body"].read().hex()
        elif op == "createSecret":
            sm.create_secret(Name=step["name"], SecretString=step["value"])
        elif op == "getSecret":
            data = sm.get_secret_value(SecretId=step["name"])["SecretString"]
        else:
            raise ValueError("unknown op " + op)
        results.append({"op": op, "ok": True, "data": data})
    except ClientError as error:
        err = error.response.get("Error", {})
        results.append({"op": op, "ok": False, "code": err.get("Code"), "message": err.get("Message"),
                        "status": error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")})
    except Exception as error:  # noqa: BLE001 - reported to the test
        results.append({"op": op, "ok": False, "code": type(error).__name__, "message": str(error)})
print(json.dumps(results))
