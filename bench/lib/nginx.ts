// Debian's nginx serving a directory (sendfile): the baseline HTTP server of the benchmarks.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function nginxInstalled(): boolean {
  return !spawnSync('nginx', ['-v']).error;
}

/**
 * Starts nginx on 127.0.0.1:port serving `root`; with `accessLog`, each request is logged as
 * "<epoch seconds.millis> <uri>" (written when the request ends). Resolves once it answers.
 */
export async function startNginx(dir: string, root: string, port: number, opts: { workers?: number; accessLog?: string; limitedRate?: string } = {}): Promise<ChildProcess> {
  // With limitedRate (nginx's limit_rate, e.g. "40m"), /limited/… serves the same files at that rate per connection (a WAN link).
  const limited = opts.limitedRate ? `\n    location /limited/ {\n      alias ${root}/;\n      limit_rate ${opts.limitedRate};\n    }` : '';
  const conf = join(dir, 'nginx.conf');
  const log = opts.accessLog ? `log_format stamp '$msec $uri';\n  access_log ${opts.accessLog} stamp;` : 'access_log off;';
  writeFileSync(
    conf,
    `user root root;\nworker_processes ${opts.workers ?? 2};\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents { worker_connections 4096; }\nhttp {\n  ${log}\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n  server {\n    listen 127.0.0.1:${port};\n    root ${root};${limited}\n  }\n}\n`,
  );
  const child = spawn('nginx', ['-c', conf, '-p', dir, '-g', 'daemon off;'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`, { method: 'HEAD' });
      return child;
    } catch {
      await sleep(50);
    }
  }
  child.kill();
  throw new Error('nginx did not start');
}
