// SQS queue URLs stay on the gateway. Answers name queues by URL (CreateQueue, GetQueueUrl, ListQueues…), and SDKs
// send later calls to the host inside that URL (the JS SDK's default): a URL pointing at the upstream would take
// those calls around the gateway — undecided, unrecorded, and against real AWS carrying gateway credentials there.
// So queue URLs in answers are rewritten to the gateway's origin, and queue URLs in requests back to the upstream's.
// Only QueueUrl / QueueUrls fields are touched (JSON and query/XML), never message bodies, whose MD5 the SDK checks.
// Pure.

/** `https://host[:port]/ACCOUNT/NAME` → the account and name part. */
const QUEUE_URL = /^https?:\/\/[^/\s"'<>]+(\/\d{12}\/[A-Za-z0-9_.-]{1,80})$/;

function rewriteUrl(url: string, origin: string): string {
  const m = QUEUE_URL.exec(url);
  return m ? `${origin}${m[1]}` : url;
}

/** JSON (`"QueueUrl": "…"`, `"QueueUrls": ["…"]`) and XML (`<QueueUrl>…</QueueUrl>`) fields, rewritten to `origin`. */
export function rewriteQueueUrls(text: string, origin: string): string {
  return text
    .replace(/("QueueUrl"\s*:\s*")([^"]+)(")/g, (_, a: string, url: string, b: string) => `${a}${rewriteUrl(url, origin)}${b}`)
    .replace(/("QueueUrls"\s*:\s*\[)([^\]]*)(\])/g, (_, a: string, list: string, b: string) =>
      `${a}${list.replace(/"([^"]+)"/g, (_m: string, url: string) => `"${rewriteUrl(url, origin)}"`)}${b}`,
    )
    .replace(/(<QueueUrl>)([^<]+)(<\/QueueUrl>)/g, (_, a: string, url: string, b: string) => `${a}${rewriteUrl(url, origin)}${b}`);
}

/** A query-protocol form body: `QueueUrl=` (and `QueueUrl.N`-style) values, rewritten to `origin`. */
export function rewriteQueueUrlForm(form: string, origin: string): string {
  return form
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq === -1 || !/^QueueUrl(\.\d+)?$/.test(decodeURIComponent(pair.slice(0, eq)))) return pair;
      let value: string;
      try {
        value = decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
      } catch {
        return pair;
      }
      return `${pair.slice(0, eq)}=${encodeURIComponent(rewriteUrl(value, origin))}`;
    })
    .join('&');
}
