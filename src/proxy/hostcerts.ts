// Per-host certificates for forward-proxy mode, signed by the gateway CA and cached in memory.
//
// Costs, measured here: RSA key generation is ~0.1 s (sync in node:crypto), and forge's pure-JS RSA
// signature in issueLeafCertificate is 50–130 ms. So: one leaf key for every host (generated once,
// asynchronously, off the event loop), and each certificate also names the wildcard of its parent
// domain (`*.us-east-1.amazonaws.com`, `*.s3.us-east-1.amazonaws.com`), so a handful of certificates,
// minted in the background at start, cover every regional endpoint and every virtual-host bucket.

import { generateKeyPair } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { issueLeafCertificate, type CertificateAuthority } from './tls.js';

export interface HostCertificatesOptions {
  now?: () => Date;
  /** Most certificates kept (least recently used dropped first). */
  maxEntries?: number;
  /** Mint with a given leaf key (PEM, PKCS#1) instead of generating one; tests. */
  leafKeyPem?: string;
}

interface Entry {
  context: SecureContext;
  certPem: string;
  names: string[];
}

const DEFAULT_MAX_ENTRIES = 500;

/** Services a client commonly reaches first; their hosts are minted at start, not on the first CONNECT. */
const PREWARM_SERVICES = ['sts', 's3', 'dynamodb', 'secretsmanager', 'ssm', 'kms', 'lambda', 'sqs', 'sns', 'logs', 'monitoring'];

/** The hosts pre-warming covers for a region (wildcards make most of these one certificate). */
export function prewarmHosts(region: string): string[] {
  return ['sts.amazonaws.com', 's3.amazonaws.com', ...PREWARM_SERVICES.map((s) => `${s}.${region}.amazonaws.com`), `bucket.s3.${region}.amazonaws.com`];
}

/**
 * The names a host's certificate carries: the host, plus the wildcard of its parent when the parent
 * still has at least two labels (TLS wildcards match exactly one label, and `*.com` is never valid).
 */
export function certificateNames(host: string): string[] {
  const h = host.toLowerCase();
  const dot = h.indexOf('.');
  const parent = dot === -1 ? '' : h.slice(dot + 1);
  return parent.split('.').length >= 2 ? [h, `*.${parent}`] : [h];
}

/** Does a certificate name (possibly `*.parent`) cover `host`? */
export function nameCovers(name: string, host: string): boolean {
  const h = host.toLowerCase();
  if (!name.startsWith('*.')) return name === h;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot + 1) === name.slice(2);
}

function newLeafKeyPem(): Promise<string> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }, (error, _pub, priv) =>
      error ? reject(error) : resolve(priv),
    );
  });
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class HostCertificates {
  readonly #ca: CertificateAuthority;
  readonly #now: () => Date;
  readonly #maxEntries: number;
  /** Keyed by certificate name (host or `*.parent`); Map order is the LRU order. */
  readonly #byName = new Map<string, Entry>();
  readonly #minting = new Map<string, Promise<Entry>>();
  #leafKey: Promise<string> | undefined;
  /** Serialises minting: each signature blocks the loop, so never two back to back without a yield. */
  #queue: Promise<unknown> = Promise.resolve();
  minted = 0;

  constructor(ca: CertificateAuthority, options: HostCertificatesOptions = {}) {
    this.#ca = ca;
    this.#now = options.now ?? (() => new Date());
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (options.leafKeyPem !== undefined) this.#leafKey = Promise.resolve(options.leafKeyPem);
  }

  #lookup(host: string): Entry | undefined {
    const h = host.toLowerCase();
    for (const key of [h, ...certificateNames(h).slice(1)]) {
      const entry = this.#byName.get(key);
      if (entry) {
        // Refresh LRU position.
        this.#byName.delete(key);
        this.#byName.set(key, entry);
        return entry;
      }
    }
    return undefined;
  }

  /** The cached context for `host`, if one is ready (no minting). */
  cached(host: string): SecureContext | undefined {
    return this.#lookup(host)?.context;
  }

  /** The certificate PEM serving `host` (tests, diagnostics). */
  async certificatePem(host: string): Promise<string> {
    await this.contextFor(host);
    return (this.#lookup(host) as Entry).certPem;
  }

  /** A TLS context presenting a certificate for `host`; minted on first use, then cached. */
  async contextFor(host: string): Promise<SecureContext> {
    const ready = this.#lookup(host);
    if (ready) return ready.context;
    const names = certificateNames(host);
    const key = names[names.length - 1] as string;
    let pending = this.#minting.get(key);
    if (!pending) {
      pending = this.#mint(names).finally(() => this.#minting.delete(key));
      this.#minting.set(key, pending);
    }
    return (await pending).context;
  }

  /** Mints certificates for `hosts` in the background, one at a time, yielding to the loop in between. */
  prewarm(hosts: readonly string[]): Promise<void> {
    return (async () => {
      for (const host of hosts) {
        if (this.#lookup(host)) continue;
        await this.contextFor(host).catch(() => undefined);
      }
    })();
  }

  #mint(names: string[]): Promise<Entry> {
    const run = async (): Promise<Entry> => {
      this.#leafKey ??= newLeafKeyPem();
      const keyPem = await this.#leafKey;
      await yieldToLoop();
      const existing = this.#lookup(names[0] as string);
      if (existing) return existing;
      const leaf = issueLeafCertificate(this.#ca, names, this.#now(), keyPem);
      const entry: Entry = { context: createSecureContext({ cert: leaf.certPem, key: keyPem }), certPem: leaf.certPem, names };
      this.minted += 1;
      for (const name of names) this.#byName.set(name, entry);
      while (this.#byName.size > this.#maxEntries) {
        const oldest = this.#byName.keys().next().value as string;
        this.#byName.delete(oldest);
      }
      return entry;
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }
}

// One cache per CA for the life of the process: the gateway's CA object is stable.
const caches = new WeakMap<CertificateAuthority, HostCertificates>();

export function hostCertificatesFor(ca: CertificateAuthority, options?: HostCertificatesOptions): { certs: HostCertificates; created: boolean } {
  const existing = caches.get(ca);
  if (existing) return { certs: existing, created: false };
  const certs = new HostCertificates(ca, options);
  caches.set(ca, certs);
  return { certs, created: true };
}

/**
 * Mints the common hosts' certificates for a region in the background (call once at gateway start so
 * the first CONNECT does not pay for a signature); safe to call again, and before or after any CONNECT.
 */
export function prewarmHostCertificates(ca: CertificateAuthority, region: string): Promise<void> {
  return hostCertificatesFor(ca).certs.prewarm(prewarmHosts(region));
}
