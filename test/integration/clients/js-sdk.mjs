// A stock JS SDK v3 client configured only by the environment (AWS_ENDPOINT_URL, web identity, region,
// NODE_EXTRA_CA_CERTS). Runs the steps named in argv[2] (JSON) and prints one JSON result per step.
import { S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command, DeleteObjectCommand, CreateBucketCommand,
  CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand } from '@aws-sdk/client-s3';
import { DynamoDBClient, PutItemCommand, GetItemCommand, QueryCommand, CreateTableCommand, DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient, GetSecretValueCommand, CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
// Installed with the SDK clients (their default request handler package).
import { NodeHttp2Handler } from '@smithy/node-http-handler';

// PORTCULLIS_TEST_HTTP2=1: S3, DynamoDB and Secrets Manager over HTTP/2 only (the handler offers just `h2` by ALPN,
// as Kinesis's and Bedrock runtime's default clients do); STS (web identity, whoami) stays on HTTP/1.1.
const http2 = process.env.PORTCULLIS_TEST_HTTP2 === '1' ? { requestHandler: new NodeHttp2Handler({ disableConcurrentStreams: false }) } : {};
const s3 = new S3Client({ forcePathStyle: true, ...http2 });
const ddb = new DynamoDBClient({ ...http2 });
const sm = new SecretsManagerClient({ ...http2 });
const sts = new STSClient({});

const steps = JSON.parse(process.argv[2] ?? '[]');
const results = [];
for (const step of steps) {
  try {
    let data;
    switch (step.op) {
      case 'whoami': data = await sts.send(new GetCallerIdentityCommand({})); data = { Arn: data.Arn, Account: data.Account }; break;
      case 'createBucket': await s3.send(new CreateBucketCommand({ Bucket: step.bucket })); break;
      case 'put': await s3.send(new PutObjectCommand({ Bucket: step.bucket, Key: step.key, Body: step.body })); break;
      case 'get': { const r = await s3.send(new GetObjectCommand({ Bucket: step.bucket, Key: step.key })); data = await r.Body.transformToString(); break; }
      case 'list': { const r = await s3.send(new ListObjectsV2Command({ Bucket: step.bucket })); data = (r.Contents ?? []).map((o) => o.Key); break; }
      case 'deleteObject': await s3.send(new DeleteObjectCommand({ Bucket: step.bucket, Key: step.key })); break;
      case 'multipart': {
        const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: step.bucket, Key: step.key }));
        const part = Buffer.alloc(5 * 1024 * 1024, 'a');
        const tail = Buffer.from('tail');
        const [p2, p1] = await Promise.all([
          s3.send(new UploadPartCommand({ Bucket: step.bucket, Key: step.key, UploadId, PartNumber: 2, Body: tail })),
          s3.send(new UploadPartCommand({ Bucket: step.bucket, Key: step.key, UploadId, PartNumber: 1, Body: part })),
        ]);
        await s3.send(new CompleteMultipartUploadCommand({ Bucket: step.bucket, Key: step.key, UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] } }));
        const r = await s3.send(new GetObjectCommand({ Bucket: step.bucket, Key: step.key }));
        const bytes = Buffer.from(await r.Body.transformToByteArray());
        data = { length: bytes.length, tail: bytes.subarray(-4).toString() };
        break;
      }
      case 'createTable': await ddb.send(new CreateTableCommand({ TableName: step.table, BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }] })); break;
      case 'putItem': await ddb.send(new PutItemCommand({ TableName: step.table, Item: step.item })); break;
      case 'getItem': { const r = await ddb.send(new GetItemCommand({ TableName: step.table, Key: step.key })); data = r.Item; break; }
      case 'query': { const r = await ddb.send(new QueryCommand({ TableName: step.table, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': { S: step.pk } } })); data = r.Count; break; }
      case 'deleteTable': await ddb.send(new DeleteTableCommand({ TableName: step.table })); break;
      case 'createSecret': await sm.send(new CreateSecretCommand({ Name: step.name, SecretString: step.value })); break;
      case 'getSecret': { const r = await sm.send(new GetSecretValueCommand({ SecretId: step.name })); data = r.SecretString; break; }
      case 'getSecretsParallel': {
        const settled = await Promise.allSettled(step.names.map((name) => sm.send(new GetSecretValueCommand({ SecretId: name }))));
        data = settled.map((r) => (r.status === 'fulfilled' ? { ok: true, value: r.value.SecretString } : { ok: false, name: r.reason.name, message: r.reason.message }));
        break;
      }
      default: throw new Error(`unknown op ${step.op}`);
    }
    results.push({ op: step.op, ok: true, data });
  } catch (error) {
    results.push({ op: step.op, ok: false, name: error.name, code: error.Code ?? error.name, message: error.message, status: error.$metadata?.httpStatusCode });
  }
}
process.stdout.write(JSON.stringify(results));
for (const client of [s3, ddb, sm, sts]) client.destroy();
