// The gateway's local CA and server certificates (node-forge for X.509; keys from node:crypto,
// which is far faster than forge's pure-JS RSA). Private keys are written mode 0600.

import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
  caFile: string;
}

export interface ServerCertificate {
  certPem: string;
  keyPem: string;
  names: string[];
}

const CA_VALIDITY_YEARS = 10;
const LEAF_VALIDITY_DAYS = 397;

const generateKeyPairAsync = promisify(generateKeyPair);

/** Off the event loop: RSA key generation takes tens of milliseconds. */
export async function newRsaKeyPem(): Promise<string> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
}

function serialNumber(): string {
  // Positive, 16 random bytes.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

async function writePrivate(file: string, content: string): Promise<void> {
  await writeFile(file, content, { mode: 0o600 });
  await chmod(file, 0o600);
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

export function tlsDir(stateDir: string): string {
  return join(stateDir, 'tls');
}

export function caFilePath(stateDir: string): string {
  return join(tlsDir(stateDir), 'ca.cert.pem');
}

function createCa(now: Date, keyPem: string): { certPem: string; keyPem: string } {
  const privateKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e);
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + CA_VALIDITY_YEARS * 365 * 86_400_000);
  const subject = [
    { name: 'commonName', value: `portcullis local CA (${hostname()})` },
    { name: 'organizationName', value: 'portcullis' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true, pathLenConstraint: 0 },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/** Loads the CA from the state dir, creating it on first start. */
export async function loadOrCreateCa(stateDir: string, now = new Date()): Promise<CertificateAuthority> {
  const dir = tlsDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certFile = caFilePath(stateDir);
  const keyFile = join(dir, 'ca.key.pem');
  if ((await exists(certFile)) && (await exists(keyFile))) {
    const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    try {
      forge.pki.certificateFromPem(certPem);
      forge.pki.privateKeyFromPem(keyPem);
    } catch {
      throw new Error(`${dir}: the gateway CA files are corrupt; move them away to create a new CA (clients must then trust the new one)`);
    }
    return { certPem, keyPem, caFile: certFile };
  }
  const ca = createCa(now, await newRsaKeyPem());
  await writePrivate(keyFile, ca.keyPem);
  await writeFile(certFile, ca.certPem, { mode: 0o644 });
  return { ...ca, caFile: certFile };
}

/** Issues a leaf certificate for the given DNS names / IP addresses, signed by the CA. */
export function issueLeafCertificate(ca: CertificateAuthority, names: string[], now: Date, keyPem: string): ServerCertificate {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const privateKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e);
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + LEAF_VALIDITY_DAYS * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: names[0] ?? 'localhost' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((name) => (isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })),
    },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem, names };
}

export function defaultServerNames(publicHosts: string[] = []): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...publicHosts])];
}

/** The listener's certificate; re-issued when the set of names changes (e.g. a new --public-host). */
export async function loadOrCreateServerCertificate(stateDir: string, ca: CertificateAuthority, names: string[], now = new Date()): Promise<ServerCertificate> {
  const dir = tlsDir(stateDir);
  const certFile = join(dir, 'server.cert.pem');
  const keyFile = join(dir, 'server.key.pem');
  const namesFile = join(dir, 'server.names.json');
  if ((await exists(certFile)) && (await exists(keyFile)) && (await exists(namesFile))) {
    const stored = JSON.parse(await readFile(namesFile, 'utf8')) as string[];
    const certPem = await readFile(certFile, 'utf8');
    const cert = forge.pki.certificateFromPem(certPem);
    const fresh = cert.validity.notAfter.getTime() - now.getTime() > 30 * 86_400_000;
    if (fresh && stored.length === names.length && stored.every((n, i) => n === names[i])) {
      return { certPem, keyPem: await readFile(keyFile, 'utf8'), names };
    }
  }
  const leaf = issueLeafCertificate(ca, names, now, await newRsaKeyPem());
  await writePrivate(keyFile, leaf.keyPem);
  await writeFile(certFile, leaf.certPem, { mode: 0o644 });
  await writeFile(namesFile, JSON.stringify(names), { mode: 0o644 });
  return leaf;
}
