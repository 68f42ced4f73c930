// The gateway's own key material, kept in `<stateDir>/keys/`:
//   signing-key.json      private ES256 JWK (with kid)            0600
//   signing-key.pub.json  public JWK (kid, alg, use)              0644
//   gateway-secret        32 random bytes, hex                     0600
// Every credential and local token the gateway issues depends on these files, so a corrupt or
// loosely-permissioned file is an error, never a reason to regenerate: a new key would silently
// invalidate every live session, and a readable key would let anyone mint sessions.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';

export interface GatewayKeys {
  /** RFC 7638 thumbprint of the public key. */
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: JWK;
  /** Derives access key ids and secret access keys of gateway-issued credentials. */
  secret: Buffer;
}

export interface PublicSigningKey {
  kid: string;
  publicKey: KeyObject;
  publicJwk: JWK;
}

export const SIGNING_ALG = 'ES256';
export const KEYS_DIR = 'keys';
export const SIGNING_KEY_FILE = 'signing-key.json';
export const PUBLIC_KEY_FILE = 'signing-key.pub.json';
export const SECRET_FILE = 'gateway-secret';
const SECRET_BYTES = 32;

export class KeyFileError extends Error {
  readonly path: string;
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = 'KeyFileError';
    this.path = path;
  }
}

export function keyPaths(stateDir: string): { dir: string; signingKey: string; publicKey: string; secret: string } {
  const dir = join(stateDir, KEYS_DIR);
  return {
    dir,
    signingKey: join(dir, SIGNING_KEY_FILE),
    publicKey: join(dir, PUBLIC_KEY_FILE),
    secret: join(dir, SECRET_FILE),
  };
}

/** Load the gateway keys from `<stateDir>/keys/`, creating whatever is missing. */
export async function loadOrCreateGatewayKeys(stateDir: string): Promise<GatewayKeys> {
  await ensurePrivateDir(stateDir, false);
  const paths = keyPaths(stateDir);
  await ensurePrivateDir(paths.dir, true);

  let privateJwk = await readPrivateFile(paths.signingKey, (text) => parsePrivateJwk(paths.signingKey, text));
  if (privateJwk === undefined) {
    const generated = generatePrivateJwk();
    // Another instance may race us on first start: whoever links first wins, the other reads its key.
    if (!(await createExclusive(paths.signingKey, JSON.stringify(generated, null, 2) + '\n', 0o600))) {
      privateJwk = await readPrivateFile(paths.signingKey, (text) => parsePrivateJwk(paths.signingKey, text));
    } else {
      privateJwk = generated;
    }
    if (privateJwk === undefined) throw new KeyFileError(paths.signingKey, 'disappeared while being created');
  }

  let secret = await readPrivateFile(paths.secret, (text) => parseSecret(paths.secret, text));
  if (secret === undefined) {
    const generated = randomBytes(SECRET_BYTES);
    if (!(await createExclusive(paths.secret, generated.toString('hex') + '\n', 0o600))) {
      secret = await readPrivateFile(paths.secret, (text) => parseSecret(paths.secret, text));
    } else {
      secret = generated;
    }
    if (secret === undefined) throw new KeyFileError(paths.secret, 'disappeared while being created');
  }

  const privateKey = importJwk(paths.signingKey, privateJwk, 'private');
  const publicKey = createPublicKey(privateKey);
  const publicJwk = publicJwkOf(privateJwk);

  // The public file is derived from the private key: write it when absent, refuse it when it disagrees.
  const existingPublic = await readOptional(paths.publicKey);
  if (existingPublic === undefined) {
    await createExclusive(paths.publicKey, JSON.stringify(publicJwk, null, 2) + '\n', 0o644);
  } else {
    const onDisk = parsePublicJwk(paths.publicKey, existingPublic);
    if (onDisk.kid !== publicJwk.kid || onDisk.x !== publicJwk.x || onDisk.y !== publicJwk.y) {
      throw new KeyFileError(paths.publicKey, `does not match ${SIGNING_KEY_FILE} (kid ${String(onDisk.kid)} vs ${String(publicJwk.kid)})`);
    }
  }

  return { kid: publicJwk.kid as string, privateKey, publicKey, publicJwk, secret };
}

/** Only the public half, for verifying signatures (recordings, tokens) without the private key. */
export async function loadPublicSigningKey(stateDir: string): Promise<PublicSigningKey> {
  const path = keyPaths(stateDir).publicKey;
  const text = await readOptional(path);
  if (text === undefined) throw new KeyFileError(path, 'not found (run `portcullis init` or start the gateway once)');
  const publicJwk = parsePublicJwk(path, text);
  return { kid: publicJwk.kid as string, publicKey: importJwk(path, publicJwk, 'public'), publicJwk };
}

/** Compact JWS over `payload`, ES256 with the gateway key (signatures in JOSE's raw r||s form). */
export function signCompactJws(keys: Pick<GatewayKeys, 'privateKey' | 'kid'>, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const encodedHeader = Buffer.from(JSON.stringify({ alg: SIGNING_ALG, kid: keys.kid, ...header })).toString('base64url');
  const encodedPayload = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const signingInput = `${encodedHeader}.${encodedPayload}`;
  const signature = sign('sha256', Buffer.from(signingInput), { key: keys.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** RFC 7638 thumbprint of an EC public key. */
export function ecThumbprint(jwk: { crv?: string; x?: string; y?: string }): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

function generatePrivateJwk(): JWK {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d, kid: ecThumbprint(jwk), alg: SIGNING_ALG, use: 'sig' };
}

function publicJwkOf(privateJwk: JWK): JWK {
  return { kty: 'EC', crv: 'P-256', x: privateJwk.x, y: privateJwk.y, kid: privateJwk.kid, alg: SIGNING_ALG, use: 'sig' };
}

function parseJson(path: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KeyFileError(path, 'is corrupt: not valid JSON (restore it from backup; regenerating would invalidate every session)');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new KeyFileError(path, 'is corrupt: not a JWK object');
  return value as Record<string, unknown>;
}

function checkEcFields(path: string, jwk: Record<string, unknown>, needPrivate: boolean): void {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw new KeyFileError(path, 'is corrupt: expected an EC P-256 (ES256) JWK');
  const fields = needPrivate ? ['x', 'y', 'd'] : ['x', 'y'];
  for (const field of fields) {
    if (typeof jwk[field] !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jwk[field] as string)) {
      throw new KeyFileError(path, `is corrupt: JWK member "${field}" is missing or malformed`);
    }
  }
  if (typeof jwk.kid !== 'string' || jwk.kid !== ecThumbprint(jwk)) {
    throw new KeyFileError(path, 'is corrupt: "kid" is missing or is not the thumbprint of the key');
  }
}

function parsePrivateJwk(path: string, text: string): JWK {
  const jwk = parseJson(path, text);
  checkEcFields(path, jwk, true);
  return jwk as JWK;
}

function parsePublicJwk(path: string, text: string): JWK {
  const jwk = parseJson(path, text);
  if ('d' in jwk) throw new KeyFileError(path, 'holds a private key; it must hold only the public JWK');
  checkEcFields(path, jwk, false);
  return { ...jwk, alg: SIGNING_ALG } as JWK;
}

function parseSecret(path: string, text: string): Buffer {
  const hex = text.trim();
  if (!new RegExp(`^[0-9a-f]{${SECRET_BYTES * 2}}$`).test(hex)) {
    throw new KeyFileError(path, `is corrupt: expected ${SECRET_BYTES} bytes as ${SECRET_BYTES * 2} lowercase hex characters`);
  }
  return Buffer.from(hex, 'hex');
}

function importJwk(path: string, jwk: JWK, kind: 'private' | 'public'): KeyObject {
  const material = kind === 'private'
    ? { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }
    : { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
  try {
    return kind === 'private'
      ? createPrivateKey({ key: material as JsonWebKey, format: 'jwk' })
      : createPublicKey({ key: material as JsonWebKey, format: 'jwk' });
  } catch (cause) {
    throw new KeyFileError(path, `is corrupt: not a usable P-256 key (${(cause as Error).message})`);
  }
}

function modeString(mode: number): string {
  return '0' + (mode & 0o777).toString(8);
}

async function ensurePrivateDir(path: string, enforce: boolean): Promise<void> {
  try {
    await mkdir(path, { mode: 0o700 });
    // mkdir's mode is filtered by the umask; set it exactly.
    await chmod(path, 0o700);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        await mkdir(path, { recursive: true, mode: 0o700 });
        await chmod(path, 0o700);
        return;
      }
      throw new KeyFileError(path, `cannot create directory: ${(error as Error).message}`);
    }
  }
  const info = await stat(path);
  if (!info.isDirectory()) throw new KeyFileError(path, 'exists but is not a directory');
  if (enforce && (info.mode & 0o077) !== 0) {
    throw new KeyFileError(path, `has mode ${modeString(info.mode)}; expected 0700 (chmod 700 ${path})`);
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeyFileError(path, `cannot be read: ${(error as Error).message}`);
  }
}

/** Read a secret-bearing file, refusing it when group or others can access it. */
async function readPrivateFile<T>(path: string, parse: (text: string) => T): Promise<T | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeyFileError(path, `cannot be read: ${(error as Error).message}`);
  }
  if (!info.isFile()) throw new KeyFileError(path, 'is not a regular file');
  if ((info.mode & 0o077) !== 0) {
    throw new KeyFileError(path, `has mode ${modeString(info.mode)}; expected 0600 (chmod 600 ${path})`);
  }
  const text = await readOptional(path);
  return text === undefined ? undefined : parse(text);
}

/**
 * Write a complete file under a temporary name, then hard-link it into place: the final name never
 * holds a half-written key, and an existing file is never overwritten. False when it already existed.
 */
async function createExclusive(path: string, content: string, mode: number): Promise<boolean> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(temp, content, { mode, flag: 'wx' });
  await chmod(temp, mode);
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new KeyFileError(path, `cannot be written: ${(error as Error).message}`);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}
