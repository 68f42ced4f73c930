// The baseline: a plain HTTPS → HTTP forwarder with no checks at all. It terminates TLS with the gateway's own
// certificate and key, then forwards each request to the upstream through a keep-alive agent sized like the
// gateway's (UpstreamClient), streaming bodies both ways. The gap between it and the gateway is the cost of
// what the gateway adds: SigV4 verification, identification, policy, re-signing, masking.
// Streams are joined with .pipe() and explicit error handlers, not stream.pipeline(): on this machine two
// pipeline() calls per request cut a Node forwarder from ~12k to ~4.6k requests/s (AbortController, finished()
// listeners and a promise per stream), and a slow baseline would flatter the gateway's ratio.

import { Agent, request } from 'node:http';
import { createServer } from 'node:https';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function strip(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

export async function startForwarder({ upstreamUrl, certPem, keyPem, port = 0 }) {
  const upstream = new URL(upstreamUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 128, maxFreeSockets: 32, scheduling: 'lifo' });
  const server = createServer({ cert: certPem, key: keyPem }, (req, res) => {
    const headers = strip(req.headers);
    headers.host = upstream.host;
    const outgoing = request(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      (response) => {
        res.writeHead(response.statusCode ?? 502, strip(response.headers));
        response.on('error', () => res.destroy());
        response.pipe(res);
      },
    );
    outgoing.on('error', (error) => {
      if (res.headersSent) return res.destroy();
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`forwarder: ${error.message}`);
    });
    req.on('error', () => outgoing.destroy());
    res.on('close', () => {
      if (!res.writableFinished) outgoing.destroy();
    });
    req.pipe(outgoing);
  });
  server.keepAliveTimeout = 5_000;
  server.on('tlsClientError', () => undefined);
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
