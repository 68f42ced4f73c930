// Optional second load generator: wrk, when installed. The pre-signed requests go into a generated Lua script
// that cycles through them, as autocannon does.

import { execFile, execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';

export function wrkPath() {
  try {
    return execFileSync('which', ['wrk'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const lua = (text) => JSON.stringify(text); // JSON string escapes are valid Lua string escapes for ASCII.

/** Runs wrk against `url` with `requests` ({method, path, headers, body}); returns req/s and p50/p99 in ms. */
export async function runWrk({ wrk, url, requests, connections, durationS, scriptFile }) {
  const entries = requests.map((r) => {
    const headers = Object.entries(r.headers).map(([k, v]) => `[${lua(k)}]=${lua(String(v))}`).join(', ');
    const body = r.body === undefined ? 'nil' : lua(Buffer.from(r.body).toString('latin1'));
    return `  {${lua(r.method)}, ${lua(r.path)}, {${headers}}, ${body}}`;
  });
  await writeFile(
    scriptFile,
    `local defs = {\n${entries.join(',\n')}\n}\nlocal reqs = {}\nlocal i = 0\n` +
      `init = function(args)\n  for n, d in ipairs(defs) do reqs[n] = wrk.format(d[1], d[2], d[3], d[4]) end\nend\n` +
      `request = function()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n`,
  );
  const stdout = await new Promise((resolve, reject) =>
    execFile(wrk, ['-t2', `-c${connections}`, `-d${durationS}s`, '--latency', '-s', scriptFile, url], { timeout: (durationS + 30) * 1000 }, (error, out) =>
      error ? reject(error) : resolve(out),
    ),
  );
  const toMs = (value, unit) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? NaN);
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(stdout);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN), p50: pct(50), p99: pct(99), non2xx, errors: 0, timeouts: 0 };
}
