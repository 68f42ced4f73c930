// Gateway-minted identity tokens, for service accounts with `issuer: local` (teams without an IdP). The verifier
// accepts them only with the gateway's own key, ES256, and this exact issuer, audience and `typ`.

import { randomUUID } from 'node:crypto';
import { signCompactJws, type GatewayKeys } from './keys.js';

export const LOCAL_ISSUER = 'urn:portcullis:local';
export const LOCAL_AUDIENCE = 'portcullis';
/** `typ` of gateway-minted identity tokens; session tokens use another, so neither passes for the other. */
export const LOCAL_TOKEN_TYP = 'JWT';

/** A gateway-minted identity token for a service account with `issuer: local` (teams without an IdP). */
export function mintLocalToken(keys: GatewayKeys, input: { serviceAccount: string; ttlMs: number; now: Date }): string {
  if (!(input.ttlMs > 0)) throw new TypeError('mintLocalToken: ttlMs must be positive');
  const iat = Math.floor(input.now.getTime() / 1000);
  return signCompactJws(keys, { typ: LOCAL_TOKEN_TYP }, {
    iss: LOCAL_ISSUER,
    sub: input.serviceAccount,
    aud: LOCAL_AUDIENCE,
    iat,
    nbf: iat,
    exp: iat + Math.max(1, Math.floor(input.ttlMs / 1000)),
    jti: randomUUID(),
  });
}
