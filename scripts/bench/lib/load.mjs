// Load generation with autocannon's programmatic API: a list of ready-made requests (method, path, headers,
// body) cycled by every connection. Returns the figures the benches print.

import autocannon from 'autocannon';

/**
 * @param {{ url: string, requests: {method: string, path: string, headers: Record<string,string>, body?: Buffer|string}[],
 *   connections?: number, durationS?: number, pipelining?: number }} options
 */
export async function runLoad({ url, requests, connections = 50, durationS = 10, pipelining = 1 }) {
  // The first answer that is not 2xx is kept, so a bench can say why (a rate with errors in it means little).
  let firstFailure;
  const onResponse = (status, body) => {
    if ((status < 200 || status > 299) && firstFailure === undefined) firstFailure = `${status} ${String(body ?? '').slice(0, 300)}`;
  };
  const result = await autocannon({
    url,
    connections,
    duration: durationS,
    pipelining,
    requests: requests.map((request) => ({ ...request, onResponse })),
    // autocannon always connects with rejectUnauthorized: false; the gateway's CA is not needed here.
    timeout: 30,
  });
  return {
    requests: result.requests.total,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: result.latency.mean,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    bytesPerS: result.throughput.average,
    firstFailure,
  };
}

/**
 * Unmeasured load before a measured run: JIT warm-up, keep-alive pools filled, upstream credentials cached.
 * Runs 1-second slices for at least `minS` seconds and until `minRequests` were answered, at most `maxS` seconds
 * (a fresh process on a busy machine needs more than a fixed time to reach its optimised code).
 */
export async function warmUp(options, { minS = 2, maxS = 8, minRequests = 2000 } = {}) {
  let seconds = 0;
  let answered = 0;
  while (seconds < maxS && (seconds < minS || answered < minRequests)) {
    answered += (await runLoad({ ...options, durationS: 1 })).requests;
    seconds += 1;
  }
  return { seconds, requests: answered };
}
