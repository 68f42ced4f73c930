// One Flow per client request: what arrived, who sent it, what it is, what was decided and what
// came back. Stages fill it in order; recording and events read it.

import type { Decision } from './policy/evaluate.js';
import type { CallInfo } from './aws/identify.js';
import type { GatewaySession } from './identity/credentials.js';
import type { ErrorProtocol } from './errors.js';

export interface Flow {
  requestId: string;
  startedAt: number;
  sourceIp?: string;
  userAgent?: string;
  method: string;
  rawPath: string;
  /** How errors must be shaped for this client; known once the service is. */
  errorProtocol: ErrorProtocol;
  session?: GatewaySession;
  call?: CallInfo;
  decision?: Decision;
  responseStatus?: number;
  responseBytes?: number;
}
