// Header helpers shared by the data path.

/** A header value as Node gives it (a string, repeated values as an array, or nothing): its first value. */
export function firstHeader(value: unknown): string | undefined {
  return Array.isArray(value) ? (value[0] as string | undefined) : (value as string | undefined);
}

/**
 * Header bags known to have only lower-case names: Node's `req.headers` and `req.headersDistinct` of an HTTP/1.1
 * request. A lookup in one of them is the key itself; any other bag (built by hand, adapted from HTTP/2) is scanned
 * for every spelling of the name.
 */
const lowerCaseBags = new WeakSet<object>();

export function markLowerCaseHeaders(bag: object): void {
  lowerCaseBags.add(bag);
}

export function hasLowerCaseNames(bag: object): boolean {
  return lowerCaseBags.has(bag);
}
