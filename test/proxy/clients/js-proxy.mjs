// The JS SDK v3 through the gateway's forward-proxy mode. The SDK ignores HTTPS_PROXY, so this script
// gives it a NodeHttpHandler whose https.Agent opens each connection with CONNECT through the proxy
// (TLS to the proxy, then TLS to the AWS host inside the tunnel) — written here with node:tls, no
// proxy-agent package. Everything else (web identity, region) comes from the environment; the
// web-identity STS call inherits the client's request handler, so it goes through the proxy too.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { S3Client, PutObjectCommand, GetObjectCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import { DynamoDBClient, PutItemCommand, GetItemCommand, CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient, GetSecretValueCommand, CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';

const proxy = new URL(process.env.PORTCULLIS_TEST_PROXY);
const ca = readFileSync(process.env.PORTCULLIS_TEST_CA, 'utf8');

class ConnectAgent extends https.Agent {
  createConnection(options, callback) {
    const target = `${options.host}:${options.port ?? 443}`;
    const toProxy = tls.connect({ host: proxy.hostname, port: Number(proxy.port), ca, servername: proxy.hostname === '127.0.0.1' ? undefined : proxy.hostname });
    toProxy.once('error', callback);
    toProxy.once('secureConnect', () => toProxy.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    let buffered = Buffer.alloc(0);
    const onData = (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      toProxy.off('data', onData);
      toProxy.off('error', callback);
      const status = buffered.subarray(0, end).toString('latin1').split(' ')[1];
      if (status !== '200') {
        toProxy.destroy();
        callback(new Error(`proxy refused CONNECT ${target}: ${buffered.subarray(0, end).toString('latin1').split('\r\n')[0]}`));
        return;
      }
      const rest = buffered.subarray(end + 4);
      if (rest.length > 0) toProxy.unshift(rest);
      const inner = tls.connect({ socket: toProxy, servername: options.servername ?? options.host, ca, ALPNProtocols: ['http/1.1'] });
      inner.once('secureConnect', () => callback(null, inner));
      inner.once('error', callback);
    };
    toProxy.on('data', onData);
    return undefined;
  }
}

const requestHandler = new NodeHttpHandler({ httpsAgent: new ConnectAgent({ keepAlive: true }) });
const s3 = new S3Client({ requestHandler });
const ddb = new DynamoDBClient({ requestHandler });
const sm = new SecretsManagerClient({ requestHandler });
const sts = new STSClient({ requestHandler });

const steps = JSON.parse(process.argv[2] ?? '[]');
const results = [];
for (const step of steps) {
  try {
    let data;
    switch (step.op) {
      case 'whoami': data = (await sts.send(new GetCallerIdentityCommand({}))).Arn; break;
      case 'createBucket': await s3.send(new CreateBucketCommand({ Bucket: step.bucket })); break;
      case 'put': await s3.send(new PutObjectCommand({ Bucket: step.bucket, Key: step.key, Body: step.body })); break;
      case 'get': data = await (await s3.send(new GetObjectCommand({ Bucket: step.bucket, Key: step.key }))).Body.transformToString(); break;
      case 'createTable': await ddb.send(new CreateTableCommand({ TableName: step.table, BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }] })); break;
      case 'putItem': await ddb.send(new PutItemCommand({ TableName: step.table, Item: step.item })); break;
      case 'getItem': data = (await ddb.send(new GetItemCommand({ TableName: step.table, Key: step.key }))).Item; break;
      case 'createSecret': await sm.send(new CreateSecretCommand({ Name: step.name, SecretString: step.value })); break;
      case 'getSecret': data = (await sm.send(new GetSecretValueCommand({ SecretId: step.name }))).SecretString; break;
      default: throw new Error(`unknown op ${step.op}`);
    }
    results.push({ op: step.op, ok: true, data });
  } catch (error) {
    results.push({ op: step.op, ok: false, name: error.name, message: error.message, status: error.$metadata?.httpStatusCode });
  }
}
process.stdout.write(JSON.stringify(results));
process.exit(0);
