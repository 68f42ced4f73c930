// Forward-proxy mode end to end: stock clients with HTTPS_PROXY=https://gateway and AWS_CA_BUNDLE = the
// gateway CA, NO endpoint override. They CONNECT to the real AWS host names; the gateway terminates TLS
// with certificates it mints, runs the pipeline, and forwards to moto (upstream.endpoint in the policy).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { aws, proxyClientEnv, run, startStack, type Stack } from './harness.js';

const POLICY = `rules:
  - id: no-destroy
    effect: deny
    actions: ["s3:Delete*", "dynamodb:DeleteTable"]
    message: destructive calls are blocked on this gateway
  - id: work
    effect: allow
    principals: [reports-mcp]
    actions: ["s3:*", "dynamodb:*", "secretsmanager:*", "sts:GetCallerIdentity"]
masking:
  fields: [SecretString]
`;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ policyBody: POLICY });
}, 60_000);

afterAll(async () => {
  await stack?.close();
});


function connectEvents(code: string): string[] {
  return stack.events.flatMap((e) => (e.type === 'error' && e.code === code ? [e.message] : []));
}

describe('aws CLI v1 via HTTPS_PROXY', () => {
  test('sts, s3 mb/cp (10 MB multipart)/ls, dynamodb, secretsmanager create/get; denies name the rule', async () => {
    const env = await proxyClientEnv(stack);
    expect(env.AWS_ENDPOINT_URL).toBeUndefined();
    const who = await aws(env, ['sts', 'get-caller-identity', '--output', 'json']);
    expect(who.stderr).toBe('');
    expect(who.stdout).toContain('assumed-role/portcullis-test/');
    expect((await aws(env, ['s3', 'mb', 's3://proxy-bucket'])).code).toBe(0);
    const small = join(stack.dir, 'proxy-small.txt');
    await writeFile(small, 'hello through the proxy\n');
    const put = await aws(env, ['s3', 'cp', small, 's3://proxy-bucket/docs/small.txt']);
    expect(put.stderr).toBe('');
    const big = join(stack.dir, 'proxy-big.bin');
    await writeFile(big, Buffer.alloc(10 * 1024 * 1024, 9));
    const multipart = await aws(env, ['s3', 'cp', big, 's3://proxy-bucket/big.bin']);
    expect(multipart.stderr).toBe('');
    expect(multipart.code).toBe(0);
    const back = join(stack.dir, 'proxy-back.bin');
    expect((await aws(env, ['s3', 'cp', 's3://proxy-bucket/big.bin', back])).code).toBe(0);
    expect((await readFile(back)).equals(await readFile(big))).toBe(true);
    expect((await aws(env, ['s3', 'ls', '--recursive', 's3://proxy-bucket/'])).stdout).toContain('docs/small.txt');
    const rm = await aws(env, ['s3', 'rm', 's3://proxy-bucket/docs/small.txt']);
    expect(rm.code).not.toBe(0);
    expect(rm.stderr).toContain('no-destroy');

    const table = await aws(env, [
      'dynamodb', 'create-table', '--table-name', 'proxy-table', '--billing-mode', 'PAY_PER_REQUEST',
      '--attribute-definitions', 'AttributeName=pk,AttributeType=S', '--key-schema', 'AttributeName=pk,KeyType=HASH',
    ]);
    expect(table.stderr).toBe('');
    expect((await aws(env, ['dynamodb', 'put-item', '--table-name', 'proxy-table', '--item', '{"pk":{"S":"k1"},"v":{"S":"via proxy"}}'])).code).toBe(0);
    const item = await aws(env, ['dynamodb', 'get-item', '--table-name', 'proxy-table', '--key', '{"pk":{"S":"k1"}}', '--output', 'json']);
    expect(JSON.parse(item.stdout).Item.v.S).toBe('via proxy');

    const created = await aws(env, ['secretsmanager', 'create-secret', '--name', 'proxy/db', '--secret-string', 'hunter2-proxy']);
    expect(created.stderr).toBe('');
    const secret = await aws(env, ['secretsmanager', 'get-secret-value', '--secret-id', 'proxy/db', '--output', 'json']);
    expect(secret.code).toBe(0);
    // Masked by the policy on the way back, like in endpoint mode.
    expect(JSON.parse(secret.stdout).SecretString).not.toContain('hunter2');

    // The calls were decided by the pipeline under their real AWS host names.
    const decided = stack.events.filter((e) => e.type === 'decision').map((e) => (e as { action: string }).action);
    expect(decided).toEqual(expect.arrayContaining(['s3:CreateBucket', 's3:UploadPart', 'dynamodb:PutItem', 'secretsmanager:CreateSecret']));
    expect(connectEvents('CONNECT_REFUSED')).toEqual([]);
  }, 300_000);

  test('a client that does not trust the gateway CA fails closed: nothing reaches moto', async () => {
    const before = stack.events.filter((e) => e.type === 'request' || e.type === 'session.started').length;
    // (a) The aws CLI without AWS_CA_BUNDLE: botocore verifies the proxy listener with the same bundle
    // (the profile's proxies_config does not reach botocore 1.43's clients), so it stops before CONNECT.
    const env = await proxyClientEnv(stack);
    delete env.AWS_CA_BUNDLE;
    const mb = await aws(env, ['s3', 'mb', 's3://never-made', '--cli-read-timeout', '5', '--cli-connect-timeout', '5']);
    expect(mb.code).not.toBe(0);
    expect(mb.stderr).toMatch(/Failed to connect to proxy URL/);
    // (b) boto3 that trusts the proxy (Config.proxies_config) but not the gateway CA for AWS hosts:
    // CONNECT succeeds, the TLS handshake inside the tunnel fails, nothing is forwarded.
    const script = [
      'import boto3, certifi, sys',
      'from botocore.config import Config',
      "c = boto3.client('s3', verify=certifi.where(), config=Config(proxies_config={'proxy_ca_bundle': sys.argv[1]}, retries={'max_attempts': 1}))",
      'try:',
      "    c.create_bucket(Bucket='never-made-either')",
      "    print('CREATED')",
      'except Exception as e:',
      "    print(type(e).__name__, str(e)[:300])",
    ].join('\n');
    const { stdout } = await run('python3', ['-c', script, stack.gateway.ca.caFile], {
      // Static (made-up) keys: the web-identity STS client would not get the proxies_config and stop at the proxy.
      env: { ...env, AWS_WEB_IDENTITY_TOKEN_FILE: '', AWS_ROLE_ARN: '', AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'made-up' },
      timeout: 60_000,
    });
    expect(stdout).toMatch(/SSLError|CERTIFICATE_VERIFY_FAILED/);
    expect(stdout).not.toContain('CREATED');
    expect(stack.events.filter((e) => e.type === 'request' || e.type === 'session.started').length).toBe(before);
    expect(connectEvents('CONNECT_TLS_FAILED').join('\n')).toMatch(/TLS handshake for never-made-either\.s3\.\S*amazonaws\.com from \S+ failed: .*trust the gateway CA.*nothing forwarded/);
    // Ask moto itself (through a trusted client) that neither bucket exists.
    const ls = await aws(await proxyClientEnv(stack), ['s3', 'ls']);
    expect(ls.code).toBe(0);
    expect(ls.stdout).not.toContain('never-made');
  }, 180_000);
});

describe('CONNECT refusals on the gateway listener', () => {
  async function rawConnect(target: string): Promise<string> {
    const { connect } = await import('node:tls');
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(stack.gateway.url).port), ca: await readFile(stack.gateway.ca.caFile, 'utf8') });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    await new Promise((resolve) => socket.once('close', resolve));
    return text;
  }

  test('a host that is not AWS and not in passthrough, and an IP literal, get 403; the gateway stays up', async () => {
    expect(await rawConnect('example.com:443')).toMatch(/^HTTP\/1\.1 403 Forbidden[\s\S]*not an AWS host/);
    expect(await rawConnect('52.216.10.1:443')).toMatch(/^HTTP\/1\.1 403 Forbidden[\s\S]*IP address/);
    expect(connectEvents('CONNECT_REFUSED')).toHaveLength(2);
    const env = await proxyClientEnv(stack);
    expect((await aws(env, ['sts', 'get-caller-identity'])).code).toBe(0);
  }, 60_000);
});

describe('boto3 via HTTPS_PROXY', () => {
  test('s3, dynamodb, secretsmanager, sts', async () => {
    const env = await proxyClientEnv(stack);
    await aws(env, ['s3', 'mb', 's3://boto-proxy']);
    await aws(env, [
      'dynamodb', 'create-table', '--table-name', 'boto-proxy', '--billing-mode', 'PAY_PER_REQUEST',
      '--attribute-definitions', 'AttributeName=pk,AttributeType=S', '--key-schema', 'AttributeName=pk,KeyType=HASH',
    ]);
    await aws(env, ['secretsmanager', 'create-secret', '--name', 'boto/proxy', '--secret-string', 'plain-value']);
    const steps = [
      { op: 'whoami' },
      { op: 'put', bucket: 'boto-proxy', key: 'report 1.txt', body: 'boto via proxy' },
      { op: 'get', bucket: 'boto-proxy', key: 'report 1.txt' },
      { op: 'list', bucket: 'boto-proxy' },
      { op: 'deleteObject', bucket: 'boto-proxy', key: 'report 1.txt' },
      { op: 'putItem', table: 'boto-proxy', item: { pk: { S: 'k1' }, v: { S: 'value' } } },
      { op: 'getItem', table: 'boto-proxy', key: { pk: { S: 'k1' } } },
      { op: 'getSecret', name: 'boto/proxy' },
    ];
    const { stdout } = await run('python3', ['test/integration/clients/boto3_client.py', JSON.stringify(steps)], { env, timeout: 120_000 });
    const results = JSON.parse(stdout) as any[];
    const by = (op: string) => results.find((r) => r.op === op);
    expect(by('whoami')).toMatchObject({ ok: true });
    expect(by('whoami').data).toContain('assumed-role/portcullis-test/');
    expect(by('get')).toMatchObject({ ok: true, data: 'boto via proxy' });
    expect(by('list')).toMatchObject({ ok: true, data: ['report 1.txt'] });
    expect(by('deleteObject')).toMatchObject({ ok: false, code: 'AccessDenied', status: 403 });
    expect(by('getItem')).toMatchObject({ ok: true, data: { pk: { S: 'k1' }, v: { S: 'value' } } });
    expect(by('getSecret')).toMatchObject({ ok: true });
  }, 180_000);
});

describe('JS SDK v3 through a CONNECT proxy agent', () => {
  test('sts, s3, dynamodb, secretsmanager', async () => {
    const env = await proxyClientEnv(stack);
    // The JS SDK v3 ignores AWS_CA_BUNDLE and HTTPS_PROXY: the script's agent tunnels and trusts the CA itself.
    const steps = [
      { op: 'whoami' },
      { op: 'createBucket', bucket: 'js-proxy' },
      { op: 'put', bucket: 'js-proxy', key: 'a.txt', body: 'js via proxy' },
      { op: 'get', bucket: 'js-proxy', key: 'a.txt' },
      { op: 'createTable', table: 'js-proxy' },
      { op: 'putItem', table: 'js-proxy', item: { pk: { S: 'j1' } } },
      { op: 'getItem', table: 'js-proxy', key: { pk: { S: 'j1' } } },
      { op: 'createSecret', name: 'js/proxy', value: 'js-secret' },
      { op: 'getSecret', name: 'js/proxy' },
    ];
    const { stdout } = await run('node', ['test/proxy/clients/js-proxy.mjs', JSON.stringify(steps)], { env, timeout: 120_000 });
    const results = JSON.parse(stdout) as any[];
    if (process.env.E2E_DEBUG) console.log(JSON.stringify(results, null, 1));
    for (const r of results) expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    const by = (op: string) => results.find((r) => r.op === op);
    expect(by('whoami').data).toContain('assumed-role/portcullis-test/');
    expect(by('get').data).toBe('js via proxy');
    expect(by('getItem').data).toEqual({ pk: { S: 'j1' } });
  }, 180_000);
});
