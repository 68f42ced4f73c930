// The one revocation rule. A credential is revoked when its session was revoked, or when its service account was
// revoked at or after the moment the credential was issued (issue times have whole seconds, so a credential from
// the revocation's own second counts as revoked: fail closed). The same rule refuses exchanging an identity token
// issued before an account-wide revocation. STS, the data path and the session index all ask this module.

/** A revoked session, or (with serviceAccount and no sessionId) every session of an account issued up to `at`. */
export interface RevocationRecord {
  sessionId?: string;
  serviceAccount?: string;
  by: string;
  reason?: string;
  at: string;
}

export interface RevocationSubject {
  sessionId: string;
  serviceAccount: string;
  issuedAtMs: number;
}

export class Revocations {
  readonly #sessions = new Set<string>();
  /** Service account → the latest account-wide revocation time (ms). */
  readonly #accounts = new Map<string, number>();

  static fromRecords(records: readonly RevocationRecord[]): Revocations {
    const revocations = new Revocations();
    for (const record of records) revocations.add(record);
    return revocations;
  }

  add(record: Pick<RevocationRecord, 'sessionId' | 'serviceAccount' | 'at'>): void {
    if (record.sessionId !== undefined) {
      this.#sessions.add(record.sessionId);
      return;
    }
    if (record.serviceAccount === undefined) return;
    const at = Date.parse(record.at);
    this.#accounts.set(record.serviceAccount, Math.max(at, this.#accounts.get(record.serviceAccount) ?? -Infinity));
  }

  /** Why this credential is revoked, or undefined when it is not. */
  reason(subject: RevocationSubject): string | undefined {
    if (this.#sessions.has(subject.sessionId)) return `session ${subject.sessionId} was revoked`;
    const cutoff = this.#accounts.get(subject.serviceAccount);
    if (cutoff !== undefined && subject.issuedAtMs <= cutoff) return `the sessions of ${subject.serviceAccount} were revoked`;
    return undefined;
  }

  /**
   * Why an identity token may not be exchanged for fresh credentials: one issued before an account-wide
   * revocation (a token without `iat` cannot show it is newer: fail closed).
   */
  identityTokenRefusal(serviceAccount: string, issuedAtSeconds: unknown): string | undefined {
    const cutoff = this.#accounts.get(serviceAccount);
    if (cutoff === undefined) return undefined;
    if (typeof issuedAtSeconds === 'number' && issuedAtSeconds * 1000 > cutoff) return undefined;
    return `the sessions of ${serviceAccount} were revoked at ${new Date(cutoff).toISOString()}; present an identity token issued after that`;
  }

  isSessionRevoked(sessionId: string): boolean {
    return this.#sessions.has(sessionId);
  }
}
