// wrk: the load generator of the data-path bench (a C program; one thread drives 32 connections far past what a
// Node proxy on two cores can answer, so the figure is the proxy's, not the generator's). The pre-signed requests
// go into a generated Lua script that cycles through them. The first answer that is not 2xx is written to stderr
// by the script and kept, so a bench can say why it failed.

import { execFile, execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';

export function wrkPath() {
  try {
    return execFileSync('which', ['wrk'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * wrk, installing it from Debian's packages when missing and allowed (root, apt-get present, BENCH_INSTALL_WRK not
 * 0). Returns undefined when it cannot be had; the caller then says it falls back to autocannon.
 */
export function ensureWrk({ log = console.log } = {}) {
  const found = wrkPath();
  if (found || process.env.BENCH_INSTALL_WRK === '0' || process.getuid?.() !== 0) return found;
  try {
    log('wrk is not installed: installing it with apt-get (BENCH_INSTALL_WRK=0 to skip)…');
    execFileSync('sh', ['-c', 'apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1)'], {
      stdio: 'ignore',
      timeout: 300_000,
    });
  } catch {
    return undefined;
  }
  return wrkPath();
}

const lua = (text) => JSON.stringify(text); // JSON string escapes are valid Lua string escapes for ASCII.

/**
 * Runs wrk against `url` with `requests` ({method, path, headers, body}); returns requests, req/s, p50/p99 in ms,
 * non-2xx and socket errors. wrk adds `Host` itself (from the URL, which is the host the requests were signed for).
 */
export async function runWrk({ wrk, url, requests, connections, durationS, scriptFile, threads = 1 }) {
  const entries = requests.map((r) => {
    const headers = Object.entries(r.headers)
      .filter(([k]) => k.toLowerCase() !== 'host')
      .map(([k, v]) => `[${lua(k)}]=${lua(String(v))}`)
      .join(', ');
    const body = r.body === undefined ? 'nil' : lua(Buffer.from(r.body).toString('latin1'));
    return `  {${lua(r.method)}, ${lua(r.path)}, {${headers}}, ${body}}`;
  });
  await writeFile(
    scriptFile,
    `local defs = {\n${entries.join(',\n')}\n}\nlocal reqs = {}\nlocal i = 0\nlocal told = false\n` +
      `init = function(args)\n  for n, d in ipairs(defs) do reqs[n] = wrk.format(d[1], d[2], d[3], d[4]) end\nend\n` +
      `request = function()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n` +
      `response = function(status, headers, body)\n  if (status < 200 or status > 299) and not told then\n` +
      `    told = true\n    io.stderr:write("FIRST-FAILURE " .. status .. " " .. string.sub(body or "", 1, 300):gsub("%s+", " ") .. "\\n")\n  end\nend\n`,
  );
  const { stdout, stderr } = await new Promise((resolve, reject) =>
    execFile(wrk, [`-t${threads}`, `-c${connections}`, `-d${durationS}s`, '--latency', '-s', scriptFile, url], { timeout: (durationS + 30) * 1000 }, (error, out, err) =>
      error ? reject(error) : resolve({ stdout: out, stderr: err }),
    ),
  );
  const toMs = (value, unit) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? NaN);
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(stdout);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  return {
    requests: Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN),
    p50: pct(50),
    p99: pct(99),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0),
    errors: socket ? Number(socket[1]) + Number(socket[2]) + Number(socket[3]) : 0,
    timeouts: socket ? Number(socket[4]) : 0,
    firstFailure: /FIRST-FAILURE (.*)/.exec(stderr)?.[1],
  };
}
