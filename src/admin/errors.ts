// Typed errors of the admin socket, with stable codes callers match on (the dashboard shows
// "disconnected, retrying" on ADMIN_UNAVAILABLE; the CLI turns every one into a single line).

export type AdminErrorCode =
  /** Nothing listens on the socket: no gateway runs with this state dir. */
  | 'ADMIN_UNAVAILABLE'
  /** The gateway answered with an error the caller cannot treat as an outcome (405, 413, 500…). */
  | 'ADMIN_REQUEST_FAILED'
  | 'ADMIN_TIMEOUT'
  /** The socket answered something that is not the admin protocol. */
  | 'ADMIN_PROTOCOL'
  /** Connecting failed for another reason (permissions, not a socket…), or the connection broke. */
  | 'ADMIN_CONNECTION'
  /** The gateway dropped this event stream because the client fell too far behind. */
  | 'ADMIN_STREAM_OVERFLOW'
  /** Server side: another live gateway owns the socket. */
  | 'ADMIN_SOCKET_IN_USE'
  /** Server side: the socket path cannot be used (too long, not a socket, no permission). */
  | 'ADMIN_SOCKET_PATH';

export class AdminError extends Error {
  readonly code: AdminErrorCode;
  constructor(code: AdminErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdminError';
    this.code = code;
  }
}

export class AdminUnavailableError extends AdminError {
  readonly stateDir: string;
  readonly socketPath: string;
  constructor(stateDir: string, socketPath: string, options?: { cause?: unknown }) {
    super('ADMIN_UNAVAILABLE', `no gateway is running with state dir ${stateDir} (admin socket ${socketPath} not found)`, options);
    this.name = 'AdminUnavailableError';
    this.stateDir = stateDir;
    this.socketPath = socketPath;
  }
}

export class AdminRequestError extends AdminError {
  readonly status: number;
  constructor(status: number, message: string) {
    super('ADMIN_REQUEST_FAILED', message);
    this.name = 'AdminRequestError';
    this.status = status;
  }
}

export function isAdminError(error: unknown): error is AdminError {
  return error instanceof AdminError;
}
