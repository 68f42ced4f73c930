// Sending a re-signed request upstream. node:http(s) with keep-alive agents, one per origin.
// Why not undici's Pool: undici 7 (the last line that runs on Node 20) throws an uncatchable
// AssertionError when an upstream closes its connection while a streamed response body is paused
// by backpressure (nodejs/undici#5360, fixed only in undici 8). moto, werkzeug and many
// S3-compatible servers close after each response, and a slow client always applies backpressure.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { BoundedMemo } from '../lib/memo.js';

export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingMessage['headers'];
  body: IncomingMessage;
}

export interface UpstreamRequest {
  origin: string;
  method: string;
  /** Path + query exactly as signed. */
  path: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer | Readable;
  /** Time allowed without any socket activity. */
  idleTimeoutMs: number;
}

interface OriginParts {
  https: boolean;
  hostname: string;
  port: string | number;
  agent: HttpAgent;
}

function headerList(headers: OutgoingHttpHeaders): string[] {
  const list: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const one of value as readonly string[]) list.push(name, one);
    else list.push(name, String(value));
  }
  return list;
}

export class UpstreamClient {
  readonly #agents = new Map<string, HttpAgent>();
  /** Each origin string parsed once (a URL per call is a measurable cost on the hot path); bounded, virtual-host S3
   * origins are one per bucket. */
  readonly #origins = new BoundedMemo<OriginParts>(1024, (text) => {
    const origin = new URL(text);
    const https = origin.protocol === 'https:';
    return { https, hostname: origin.hostname.replace(/^\[|\]$/g, ''), port: origin.port || (https ? 443 : 80), agent: this.#agent(origin) };
  });
  readonly #socketsPerOrigin: number;

  /** `socketsPerOrigin`: the pool per upstream origin (the limit stage keeps any one account to a share of it). */
  constructor(options: { socketsPerOrigin?: number } = {}) {
    this.#socketsPerOrigin = options.socketsPerOrigin ?? 128;
  }

  #agent(origin: URL): HttpAgent {
    let agent = this.#agents.get(origin.origin);
    if (!agent) {
      const options = { keepAlive: true, maxSockets: this.#socketsPerOrigin, maxFreeSockets: 32, scheduling: 'lifo' as const };
      agent = origin.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
      this.#agents.set(origin.origin, agent);
    }
    return agent;
  }

  send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const origin = this.#origins.get(request.origin);
    const send = origin.https ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const outgoing = send(
        {
          protocol: origin.https ? 'https:' : 'http:',
          hostname: origin.hostname,
          port: origin.port,
          method: request.method,
          path: request.path,
          // A flat [name, value, …] list is written as it is (each name and value still validated by Node), where an
          // object is first copied header by header into the request with setHeader.
          headers: headerList(request.headers),
          agent: origin.agent,
          timeout: request.idleTimeoutMs,
        },
        (response) => resolve({ statusCode: response.statusCode ?? 502, headers: response.headers, body: response }),
      );
      outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${request.idleTimeoutMs} ms`)));
      outgoing.on('error', reject);
      const body = request.body;
      if (body === undefined) {
        outgoing.end();
      } else if (Buffer.isBuffer(body)) {
        outgoing.end(body);
      } else {
        // pipe + explicit error handling rather than stream.pipeline: pipeline allocates an AbortController (and
        // an AbortError DOMException when it finishes) per request, a measurable cost on the hot path.
        body.once('error', (error) => outgoing.destroy(error));
        outgoing.once('error', () => body.destroy());
        body.pipe(outgoing);
      }
    });
  }

  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
    this.#origins.clear();
  }
}
