// A header value as Node gives it (a string, repeated values as an array, or nothing): its first value.

export function firstHeader(value: unknown): string | undefined {
  return Array.isArray(value) ? (value[0] as string | undefined) : (value as string | undefined);
}
