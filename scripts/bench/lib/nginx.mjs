// nginx as a second baseline, where it is installed (the bench does not install it): a TLS reverse proxy to the
// same upstream with the gateway's certificate, one worker process, keep-alive to the upstream, bodies streamed
// both ways (no buffering), no access log. It shows what a C proxy costs on this machine beside the Node forwarder.

import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { join } from 'node:path';

export function nginxPath() {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** CPU time (µs) of a process and its children, from /proc (Linux); the master and its worker here. */
function cpuOfTree(pid) {
  const ticks = 100; // USER_HZ on Linux
  const usage = { user: 0, system: 0 };
  const visit = (id) => {
    try {
      const fields = readFileSync(`/proc/${id}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      usage.user += (Number(fields[11]) * 1e6) / ticks;
      usage.system += (Number(fields[12]) * 1e6) / ticks;
      const children = readFileSync(`/proc/${id}/task/${id}/children`, 'utf8').trim();
      for (const child of children === '' ? [] : children.split(' ')) visit(Number(child));
    } catch {
      // gone
    }
  };
  visit(pid);
  return usage;
}

/**
 * Starts nginx in `dir`; resolves with { url, handle } shaped like the bench's other targets (handle answers
 * `cpu` from /proc and stops nginx), or undefined when nginx is not installed.
 */
export async function startNginx({ nginx = nginxPath(), upstreamUrl, certPem, keyPem, dir }) {
  if (!nginx) return undefined;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'cert.pem'), certPem);
  await writeFile(join(dir, 'key.pem'), keyPem, { mode: 0o600 });
  const port = await freePort();
  const upstream = new URL(upstreamUrl);
  const asRoot = process.getuid?.() === 0;
  await writeFile(
    join(dir, 'nginx.conf'),
    `${asRoot ? 'user root;\n' : ''}worker_processes 1;
daemon off;
master_process on;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  upstream bench_upstream { server ${upstream.host}; keepalive 128; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${join(dir, 'cert.pem')};
    ssl_certificate_key ${join(dir, 'key.pem')};
    keepalive_requests 1000000;
    client_max_body_size 0;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host ${upstream.host};
      proxy_request_buffering off;
      proxy_buffering off;
    }
  }
}
`,
  );
  const child = spawn(nginx, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  process.on('exit', () => child.kill('SIGKILL'));
  // Ready when it accepts connections.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited at start: ${stderr.trim() || readErrorLog(dir)}`);
    const up = await new Promise((resolve) => {
      const socket = new Socket();
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.connect(port, '127.0.0.1');
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error('nginx did not start listening within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const handle = {
    info: { pid: child.pid, url: `https://127.0.0.1:${port}` },
    request: async ({ cmd }) => (cmd === 'cpu' ? { cpu: cpuOfTree(child.pid) } : {}),
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGQUIT');
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
  return { url: handle.info.url, handle };
}

function readErrorLog(dir) {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return 'no error log';
  }
}
