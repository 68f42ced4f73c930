// Forward-proxy CONNECT handling: the pure target parser and decision (table-driven), per-host
// certificates, and the socket-level behaviour against a real HTTPS listener that hands CONNECT to
// handleConnect — with a recording `handle` standing in for the pipeline, so "nothing forwarded" is
// a count, and a local TCP server as the passthrough host.

import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideConnect, handleConnect, parseConnectTarget, type ConnectContext } from '../../src/proxy/connect.js';
import { certificateNames, HostCertificates, nameCovers, prewarmHosts } from '../../src/proxy/hostcerts.js';
import { issueLeafCertificate, loadOrCreateCa, newRsaKeyPem, type CertificateAuthority } from '../../src/proxy/tls.js';

describe('parseConnectTarget', () => {
  it.each([
    ['sts.amazonaws.com:443', { ok: true, host: 'sts.amazonaws.com', port: 443 }],
    ['Bucket-1.S3.us-east-1.AmazonAWS.com.:443', { ok: true, host: 'bucket-1.s3.us-east-1.amazonaws.com', port: 443 }],
    ['[::1]:443', { ok: true, host: '::1', port: 443 }],
    ['10.0.0.1:8443', { ok: true, host: '10.0.0.1', port: 8443 }],
  ])('%s → %o', (target, expected) => {
    expect(parseConnectTarget(target)).toEqual(expected);
  });
  it.each([
    [undefined, /has no target/],
    ['', /has no target/],
    ['sts.amazonaws.com', /is not host:port/],
    ['http://sts.amazonaws.com:443', /is not host:port/],
    ['/index.html', /is not host:port/],
    ['user@sts.amazonaws.com:443', /is not host:port/],
    ['sts.amazonaws.com:0', /out of range/],
    ['sts.amazonaws.com:70000', /out of range/],
    ['bad_host.amazonaws.com:443', /not a DNS host name/],
    ['-x.amazonaws.com:443', /not a DNS host name/],
    ['a..amazonaws.com:443', /not a DNS host name/],
    ['x'.repeat(400), /too long/],
  ])('%s → refused', (target, reason) => {
    const parsed = parseConnectTarget(target);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.reason).toMatch(reason);
  });
});

describe('decideConnect', () => {
  const pt = ['pypi.org', '*.github.com'];
  it.each([
    ['sts.amazonaws.com:443', 'intercept'],
    ['my-bucket.s3.eu-west-1.amazonaws.com:443', 'intercept'],
    ['pypi.org:443', 'passthrough'],
    ['api.github.com:443', 'passthrough'],
    ['API.GitHub.com:443', 'passthrough'],
  ])('%s → %s', (target, kind) => {
    expect(decideConnect(parseConnectTarget(target), pt).kind).toBe(kind);
  });
  it.each([
    ['sts.amazonaws.com:80', 403, /AWS hosts are proxied on port 443 only/],
    ['amazonaws.com:443', 403, /not an AWS host/],
    ['amazonaws.com.evil.example:443', 403, /not an AWS host/],
    ['evilamazonaws.com:443', 403, /not an AWS host/],
    ['github.com:443', 403, /not listed under passthrough/],
    ['pypi.org:22', 403, /passthrough hosts are tunnelled on port 443 only/],
    ['52.216.0.1:443', 403, /IP address \(52\.216\.0\.1\) is not allowed/],
    ['[::1]:443', 403, /IP address \(::1\)/],
    ['nonsense', 400, /is not host:port/],
  ])('%s → %i', (target, status, reason) => {
    const decision = decideConnect(parseConnectTarget(target), pt);
    expect(decision).toMatchObject({ kind: 'refuse', status });
    expect(decision.kind === 'refuse' ? decision.reason : '').toMatch(reason);
  });
  it('passthrough ports are configurable', () => {
    expect(decideConnect(parseConnectTarget('pypi.org:8443'), pt, [8443]).kind).toBe('passthrough');
  });
});

describe('certificate names', () => {
  it.each([
    ['sts.amazonaws.com', ['sts.amazonaws.com', '*.amazonaws.com']],
    ['dynamodb.us-east-1.amazonaws.com', ['dynamodb.us-east-1.amazonaws.com', '*.us-east-1.amazonaws.com']],
    ['bkt.s3.us-east-1.amazonaws.com', ['bkt.s3.us-east-1.amazonaws.com', '*.s3.us-east-1.amazonaws.com']],
    ['localhost', ['localhost']],
    ['example.com', ['example.com']],
  ])('%s → %o', (host, names) => {
    expect(certificateNames(host)).toEqual(names);
  });
  it.each([
    ['*.us-east-1.amazonaws.com', 'sqs.us-east-1.amazonaws.com', true],
    ['*.us-east-1.amazonaws.com', 'a.sqs.us-east-1.amazonaws.com', false],
    ['*.us-east-1.amazonaws.com', 'us-east-1.amazonaws.com', false],
    ['sts.amazonaws.com', 'STS.amazonaws.com', true],
  ])('%s covers %s: %s', (name, host, covers) => {
    expect(nameCovers(name, host)).toBe(covers);
  });
});

let dir: string;
let ca: CertificateAuthority;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-connect-'));
  ca = await loadOrCreateCa(join(dir, 'state'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('HostCertificates', () => {
  it('mints one certificate per parent domain, signed by the CA, cached and shared by concurrent callers', async () => {
    const certs = new HostCertificates(ca);
    const [a, b] = await Promise.all([certs.contextFor('dynamodb.us-east-1.amazonaws.com'), certs.contextFor('dynamodb.us-east-1.amazonaws.com')]);
    expect(a).toBe(b);
    expect(certs.minted).toBe(1);
    // The wildcard sibling serves another regional host without minting again.
    await certs.contextFor('sqs.us-east-1.amazonaws.com');
    expect(certs.minted).toBe(1);
    await certs.contextFor('bkt.s3.us-east-1.amazonaws.com');
    expect(certs.minted).toBe(2);
    const pem = await certs.certificatePem('sqs.us-east-1.amazonaws.com');
    const x509 = new X509Certificate(pem);
    expect(x509.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(x509.checkHost('sqs.us-east-1.amazonaws.com')).toBe('*.us-east-1.amazonaws.com');
    expect(x509.checkHost('evil.example.com')).toBeUndefined();
  });

  it('pre-warming three certificates covers the common hosts of a region', async () => {
    const certs = new HostCertificates(ca);
    await certs.prewarm(prewarmHosts('eu-west-1'));
    expect(certs.minted).toBe(3);
    for (const host of ['sts.amazonaws.com', 'secretsmanager.eu-west-1.amazonaws.com', 'reports.s3.eu-west-1.amazonaws.com']) {
      expect(certs.cached(host), host).toBeDefined();
    }
    expect(certs.cached('sts.us-east-2.amazonaws.com')).toBeUndefined();
  });

  it('drops the least recently used certificates beyond maxEntries', async () => {
    const certs = new HostCertificates(ca, { maxEntries: 2 });
    await certs.contextFor('a.one.amazonaws.com');
    await certs.contextFor('b.two.amazonaws.com');
    expect(certs.cached('a.one.amazonaws.com')).toBeUndefined();
    expect(certs.cached('b.two.amazonaws.com')).toBeDefined();
  });
});

// ---- socket level ----

interface Harness {
  port: number;
  handled: IncomingMessage[];
  events: { message: string; code?: string }[];
  close(): Promise<void>;
}

async function startProxy(extra: Partial<ConnectContext> = {}): Promise<Harness> {
  const handled: IncomingMessage[] = [];
  const events: { message: string; code?: string }[] = [];
  const listener = issueLeafCertificate(ca, ['127.0.0.1', 'localhost'], new Date(), await newRsaKeyPem());
  const ctx: ConnectContext = {
    handle: (req, res) => {
      handled.push(req);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`pipeline saw ${req.method} ${req.headers.host}${req.url}`);
    },
    ca,
    passthrough: () => [],
    region: () => 'us-east-1',
    emit: (event) => void events.push({ message: event.message, code: event.code }),
    ...extra,
  };
  const server: Server = createHttpsServer({ cert: listener.certPem, key: listener.keyPem });
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => handleConnect(ctx, req, socket, head));
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    handled,
    events,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** TLS to the proxy, then a raw CONNECT; resolves with the response head and the socket. */
async function connectThrough(port: number, line: string): Promise<{ head: string; body: string; socket: TLSSocket }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.certPem });
  await once(socket, 'secureConnect');
  socket.write(line);
  let data = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = data.subarray(0, end).toString('latin1');
      if (/^HTTP\/1\.1 200/.test(head)) {
        socket.off('data', onData);
        resolve({ head, body: '', socket });
      }
    };
    socket.on('data', onData);
    socket.once('end', () => {
      const text = data.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      resolve({ head: end === -1 ? text : text.slice(0, end), body: end === -1 ? '' : text.slice(end + 4), socket });
    });
    socket.once('error', reject);
  });
}

function innerTls(outer: TLSSocket, options: { servername?: string; trustCa?: boolean }): Promise<TLSSocket> {
  const inner = tlsConnect({
    socket: outer,
    // An IP as host sends no SNI; servername sets it.
    host: '127.0.0.1',
    ...(options.servername ? { servername: options.servername } : {}),
    ...(options.trustCa === false ? {} : { ca: ca.certPem }),
  });
  return new Promise((resolve, reject) => {
    inner.once('secureConnect', () => resolve(inner));
    inner.once('error', reject);
  });
}

async function request(socket: TLSSocket, text: string): Promise<string> {
  socket.write(text);
  let data = '';
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
      if (/\r\n\r\n[\s\S]*\S/.test(data)) resolve(data);
    });
    socket.once('end', () => resolve(data));
  });
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i += 1) await new Promise((r) => setTimeout(r, 10));
}

describe('CONNECT on the HTTPS listener', () => {
  let proxy: Harness;
  let echo: NetServer;
  let echoPort: number;

  beforeAll(async () => {
    echo = createNetServer((socket) => socket.pipe(socket));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    echoPort = (echo.address() as AddressInfo).port;
    proxy = await startProxy({ passthrough: () => ['localhost'], passthroughPorts: [echoPort] });
  });

  afterAll(async () => {
    await proxy?.close();
    echo?.close();
  });

  it('terminates TLS for an AWS host with a CA-signed certificate and feeds the pipeline', async () => {
    const { head, socket } = await connectThrough(proxy.port, 'CONNECT sts.amazonaws.com:443 HTTP/1.1\r\nHost: sts.amazonaws.com:443\r\n\r\n');
    expect(head).toBe('HTTP/1.1 200 Connection Established');
    const inner = await innerTls(socket, { servername: 'sts.amazonaws.com' });
    expect(inner.getPeerX509Certificate()?.checkHost('sts.amazonaws.com')).toBe('sts.amazonaws.com');
    const answer = await request(inner, 'GET /ping HTTP/1.1\r\nHost: sts.amazonaws.com\r\nConnection: close\r\n\r\n');
    expect(answer).toContain('pipeline saw GET sts.amazonaws.com/ping');
    expect(proxy.handled).toHaveLength(1);
    // Attributed to the client that opened the tunnel.
    expect(proxy.handled[0]?.socket.remoteAddress).toBe('127.0.0.1');
    inner.destroy();
  });

  it.each([
    ['a host that is not allowed', 'CONNECT evil.example.com:443 HTTP/1.1\r\n\r\n', '403 Forbidden', /evil\.example\.com refused: not an AWS host/],
    ['an IP literal', 'CONNECT 54.239.28.85:443 HTTP/1.1\r\n\r\n', '403 Forbidden', /IP address \(54\.239\.28\.85\) is not allowed/],
    ['an AWS host on another port', 'CONNECT sts.amazonaws.com:8443 HTTP/1.1\r\n\r\n', '403 Forbidden', /port 443 only/],
    ['a target that is not host:port', 'CONNECT nonsense HTTP/1.1\r\n\r\n', '400 Bad Request', /"nonsense" is not host:port/],
  ])('refuses %s, forwarding nothing', async (_name, line, status, reason) => {
    const before = proxy.handled.length;
    const { head, body } = await connectThrough(proxy.port, line);
    expect(head.split('\r\n')[0]).toBe(`HTTP/1.1 ${status}`);
    expect(body).toMatch(reason);
    expect(proxy.events.at(-1)).toMatchObject({ code: 'CONNECT_REFUSED' });
    expect(proxy.events.at(-1)?.message).toMatch(reason);
    expect(proxy.handled).toHaveLength(before);
  });

  it('a malformed CONNECT line gets 400 from the HTTP parser and the listener stays up', async () => {
    const { head } = await connectThrough(proxy.port, 'CONNECT\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400/);
  });

  it('a TLS handshake without SNI is refused: no certificate to present', async () => {
    const before = proxy.handled.length;
    const { socket } = await connectThrough(proxy.port, 'CONNECT sts.amazonaws.com:443 HTTP/1.1\r\n\r\n');
    await expect(innerTls(socket, {})).rejects.toThrow(/handshake failure|alert/i);
    await waitFor(() => proxy.events.some((e) => e.code === 'CONNECT_TLS_FAILED'));
    expect(proxy.events.filter((e) => e.code === 'CONNECT_TLS_FAILED').at(-1)?.message).toMatch(/sent no server name \(SNI\).*nothing forwarded/);
    expect(proxy.handled).toHaveLength(before);
  });

  it('an SNI naming another host than the CONNECT target is refused', async () => {
    const { socket } = await connectThrough(proxy.port, 'CONNECT sts.amazonaws.com:443 HTTP/1.1\r\n\r\n');
    await expect(innerTls(socket, { servername: 's3.amazonaws.com' })).rejects.toThrow();
    await waitFor(() => proxy.events.some((e) => /is not the CONNECT host/.test(e.message)));
    expect(proxy.events.at(-1)?.message).toMatch(/TLS server name s3\.amazonaws\.com is not the CONNECT host sts\.amazonaws\.com/);
  });

  it('a client that does not trust the gateway CA fails the handshake; nothing is forwarded', async () => {
    const before = proxy.handled.length;
    const { socket } = await connectThrough(proxy.port, 'CONNECT dynamodb.us-east-1.amazonaws.com:443 HTTP/1.1\r\n\r\n');
    await expect(innerTls(socket, { servername: 'dynamodb.us-east-1.amazonaws.com', trustCa: false })).rejects.toThrow(/self.signed|unable to get local issuer|certificate/i);
    await waitFor(() => proxy.events.some((e) => /does not trust the gateway CA/.test(e.message)));
    expect(proxy.events.at(-1)).toMatchObject({ code: 'CONNECT_TLS_FAILED' });
    expect(proxy.handled).toHaveLength(before);
  });

  it('a request whose Host differs from the tunnel gets 421 and is not forwarded', async () => {
    const before = proxy.handled.length;
    const { socket } = await connectThrough(proxy.port, 'CONNECT sts.amazonaws.com:443 HTTP/1.1\r\n\r\n');
    const inner = await innerTls(socket, { servername: 'sts.amazonaws.com' });
    const answer = await request(inner, 'GET / HTTP/1.1\r\nHost: s3.amazonaws.com\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 421/);
    expect(answer).toContain('does not match the tunnel to sts.amazonaws.com:443');
    expect(proxy.handled).toHaveLength(before);
    inner.destroy();
  });

  it('a passthrough host is tunnelled untouched and recorded with byte counts', async () => {
    const { head, socket } = await connectThrough(proxy.port, `CONNECT localhost:${echoPort} HTTP/1.1\r\n\r\n`);
    expect(head).toBe('HTTP/1.1 200 Connection Established');
    socket.write('ping-12345');
    const [echoed] = (await once(socket, 'data')) as [Buffer];
    expect(echoed.toString()).toBe('ping-12345');
    socket.end();
    await waitFor(() => proxy.events.some((e) => e.code === 'CONNECT_PASSTHROUGH'));
    expect(proxy.events.find((e) => e.code === 'CONNECT_PASSTHROUGH')?.message).toMatch(
      new RegExp(`passthrough localhost:${echoPort} from 127\\.0\\.0\\.1 closed: 10 bytes from client, 10 bytes to client`),
    );
  });

  it('a passthrough host that cannot be reached gets 502', async () => {
    const closed = createNetServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const deadPort = (closed.address() as AddressInfo).port;
    closed.close();
    const dead = await startProxy({ passthrough: () => ['localhost'], passthroughPorts: [deadPort] });
    try {
      const { head, body } = await connectThrough(dead.port, `CONNECT localhost:${deadPort} HTTP/1.1\r\n\r\n`);
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 502 Bad Gateway');
      expect(body).toMatch(/cannot reach passthrough host localhost/);
    } finally {
      await dead.close();
    }
  });

  it('after all of that the listener still serves a good tunnel', async () => {
    const { socket } = await connectThrough(proxy.port, 'CONNECT secretsmanager.us-east-1.amazonaws.com:443 HTTP/1.1\r\n\r\n');
    const inner = await innerTls(socket, { servername: 'secretsmanager.us-east-1.amazonaws.com' });
    expect(await request(inner, 'POST / HTTP/1.1\r\nHost: secretsmanager.us-east-1.amazonaws.com:443\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')).toContain(
      'pipeline saw POST secretsmanager.us-east-1.amazonaws.com:443/',
    );
    inner.destroy();
  });
});
