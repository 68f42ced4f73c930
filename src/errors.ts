// GatewayError: technical failures and refusals that become AWS-format error responses.
// The code is a closed union users can match on; `awsCode` is what the client's SDK sees.
import { encode as encodeCbor } from 'cborg';

export type GatewayErrorCode =
  | 'ACCESS_DENIED'
  | 'INVALID_IDENTITY_TOKEN'
  | 'SIGNATURE_MISMATCH'
  | 'INVALID_CLIENT_TOKEN'
  | 'EXPIRED_TOKEN'
  | 'TIME_SKEWED'
  | 'MISSING_AUTH'
  | 'MALFORMED_REQUEST'
  | 'AMBIGUOUS_REQUEST'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED'
  | 'APPROVAL_PENDING'
  | 'THROTTLED'
  | 'UPLOAD_TOO_SLOW'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UNMASKABLE_RESPONSE'
  | 'RECORDING_FAILED'
  | 'INTERNAL';

interface CodeInfo {
  status: number;
  awsCode: string;
  /** Query/XML `<Type>`: Sender for client faults, Receiver for ours. */
  fault: 'Sender' | 'Receiver';
}

const CODES: Record<GatewayErrorCode, CodeInfo> = {
  ACCESS_DENIED: { status: 403, awsCode: 'AccessDenied', fault: 'Sender' },
  INVALID_IDENTITY_TOKEN: { status: 400, awsCode: 'InvalidIdentityToken', fault: 'Sender' },
  SIGNATURE_MISMATCH: { status: 403, awsCode: 'SignatureDoesNotMatch', fault: 'Sender' },
  INVALID_CLIENT_TOKEN: { status: 403, awsCode: 'InvalidClientTokenId', fault: 'Sender' },
  EXPIRED_TOKEN: { status: 403, awsCode: 'ExpiredToken', fault: 'Sender' },
  TIME_SKEWED: { status: 403, awsCode: 'RequestTimeTooSkewed', fault: 'Sender' },
  MISSING_AUTH: { status: 403, awsCode: 'MissingAuthenticationToken', fault: 'Sender' },
  MALFORMED_REQUEST: { status: 400, awsCode: 'InvalidRequest', fault: 'Sender' },
  // The request could be read as two different calls (or on two different resources) by the gateway and the upstream.
  AMBIGUOUS_REQUEST: { status: 400, awsCode: 'InvalidRequest', fault: 'Sender' },
  BODY_TOO_LARGE: { status: 413, awsCode: 'RequestEntityTooLarge', fault: 'Sender' },
  UNSUPPORTED: { status: 400, awsCode: 'NotImplemented', fault: 'Sender' },
  // A throttling-class code: every stock SDK retries it with backoff.
  APPROVAL_PENDING: { status: 429, awsCode: 'ThrottlingException', fault: 'Sender' },
  // Over a limit (concurrency, rate, the buffer budget): retryable. Shaped per protocol by toAwsErrorResponse.
  THROTTLED: { status: 429, awsCode: 'ThrottlingException', fault: 'Sender' },
  // A streamed upload below the minimum rate: cut, as S3 cuts an idle upload.
  UPLOAD_TOO_SLOW: { status: 400, awsCode: 'RequestTimeout', fault: 'Sender' },
  UPSTREAM_UNAVAILABLE: { status: 503, awsCode: 'ServiceUnavailable', fault: 'Receiver' },
  // The upstream's answer could not be read for masking (an unknown or corrupt Content-Encoding): fail closed.
  UNMASKABLE_RESPONSE: { status: 502, awsCode: 'BadGateway', fault: 'Receiver' },
  RECORDING_FAILED: { status: 503, awsCode: 'ServiceUnavailable', fault: 'Receiver' },
  INTERNAL: { status: 500, awsCode: 'InternalFailure', fault: 'Receiver' },
};

export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  /** Overrides the default AWS code for this error (e.g. S3's `AccessDenied` vs JSON's `AccessDeniedException`). */
  readonly awsCode: string;
  readonly status: number;
  readonly fault: 'Sender' | 'Receiver';
  /** Headers the answer must carry (e.g. Content-Range on a 416). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: GatewayErrorCode, message: string, options?: { awsCode?: string; status?: number; cause?: unknown; headers?: Record<string, string> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    const info = CODES[code];
    this.awsCode = options?.awsCode ?? info.awsCode;
    this.status = options?.status ?? info.status;
    this.fault = info.fault;
    this.headers = options?.headers ?? {};
  }
}

export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof GatewayError;
}

/** How the client's protocol expects errors to be shaped. */
export type ErrorProtocol = 'json' | 'query' | 'rest-xml' | 'rest-json' | 'rpc-v2-cbor';

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  /** Text, or bytes for a CBOR error. */
  body: string | Buffer;
}

const JSON_CODE_ALIASES: Record<string, string> = {
  AccessDenied: 'AccessDeniedException',
};

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The throttling error each protocol's SDKs retry with backoff: S3's SlowDown, query's Throttling, JSON's ThrottlingException. */
const THROTTLE_SHAPES: Record<ErrorProtocol, { status: number; awsCode: string }> = {
  json: { status: 429, awsCode: 'ThrottlingException' },
  'rest-json': { status: 429, awsCode: 'ThrottlingException' },
  'rpc-v2-cbor': { status: 429, awsCode: 'ThrottlingException' },
  'rest-xml': { status: 503, awsCode: 'SlowDown' },
  query: { status: 429, awsCode: 'Throttling' },
};

/** The one mapping from a GatewayError to the AWS-format response the client's SDK understands. */
export function toAwsErrorResponse(thrown: GatewayError, protocol: ErrorProtocol, requestId: string): ErrorResponse {
  const error = thrown.code === 'THROTTLED' ? { ...THROTTLE_SHAPES[protocol], message: thrown.message, fault: thrown.fault } : thrown;
  const common = { ...thrown.headers, 'x-amzn-requestid': requestId, 'x-amz-request-id': requestId };
  if (protocol === 'json' || protocol === 'rest-json') {
    const type = JSON_CODE_ALIASES[error.awsCode] ?? error.awsCode;
    return {
      status: error.status,
      headers: { ...common, 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type },
      body: JSON.stringify({ __type: type, message: error.message, Message: error.message }),
    };
  }
  if (protocol === 'rpc-v2-cbor') {
    // Smithy RPC v2 CBOR: the SDK reads the code from `__type` in a CBOR map (a JSON body would not parse).
    const type = JSON_CODE_ALIASES[error.awsCode] ?? error.awsCode;
    return {
      status: error.status,
      headers: { ...common, 'content-type': 'application/cbor', 'smithy-protocol': 'rpc-v2-cbor', 'x-amzn-errortype': type },
      body: Buffer.from(encodeCbor({ __type: type, message: error.message, Message: error.message })),
    };
  }
  if (protocol === 'rest-xml') {
    return {
      status: error.status,
      headers: { ...common, 'content-type': 'application/xml' },
      body:
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(error.awsCode)}</Code>` +
        `<Message>${xmlEscape(error.message)}</Message><RequestId>${requestId}</RequestId></Error>`,
    };
  }
  return {
    status: error.status,
    headers: { ...common, 'content-type': 'text/xml' },
    body:
      `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>${error.fault}</Type>` +
      `<Code>${xmlEscape(error.awsCode)}</Code><Message>${xmlEscape(error.message)}</Message></Error>` +
      `<RequestId>${requestId}</RequestId></ErrorResponse>`,
  };
}
