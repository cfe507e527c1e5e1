/**
 * Docker's words for a container's state, as `docker ps` prints them:
 * `Created`, `Up 3 seconds`, `Up 2 minutes (Paused)`, `Exited (0) 5 seconds
 * ago` — with the durations of Docker's `units.HumanDuration`.
 * @module
 */
import type { ContainerInfo } from '../index.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * A duration the way Docker approximates it: `Less than a second`,
 * `1 second`, `7 seconds`, `About a minute`, `12 minutes`, `About an hour`,
 * `5 hours`, `3 days`, `2 weeks`, `4 months`, `2 years`. Hours are rounded
 * to the nearest hour; every other unit is truncated.
 *
 * @example
 * ```ts
 * humanDuration(90_000); // 'About a minute'
 * humanDuration(3 * 60 * 60_000 + 40 * 60_000); // '4 hours'
 * ```
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / SECOND);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / MINUTE);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  // Go's Duration.Round(time.Hour): halves away from zero.
  const hours = Math.floor(ms / HOUR + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / HOUR) / 24 / 365)} years`;
}

/**
 * The STATUS column of `docker ps` for a container at time `now`.
 *
 * @example
 * ```ts
 * for (const c of await runtime.ps({ all: true })) console.log(c.name, statusText(c)); // web Up 3 seconds
 * ```
 */
export function statusText(info: Pick<ContainerInfo, 'status' | 'startedAt' | 'finishedAt' | 'exitCode'>, now = Date.now()): string {
  const since = (time: string | undefined) => humanDuration(time === undefined ? 0 : Math.max(0, now - Date.parse(time)));
  switch (info.status) {
    case 'created':
      return 'Created';
    case 'running':
      return `Up ${since(info.startedAt)}`;
    case 'paused':
      return `Up ${since(info.startedAt)} (Paused)`;
    case 'exited':
      // A container whose end time was never recorded (its supervisor was killed) has none to show.
      return info.finishedAt === undefined ? `Exited (${info.exitCode ?? 0})` : `Exited (${info.exitCode ?? 0}) ${since(info.finishedAt)} ago`;
  }
}

/** One port of a running container as Docker's API lists it (`IP` empty for one only exposed). */
interface PortRow {
  ip: string;
  privatePort: number;
  publicPort: number;
  type: string;
}

function portGroup(key: string, first: number, last: number): string {
  // The key is TYPE or IP/TYPE; an IPv6 address has no '/', so the last '/' splits them.
  const slash = key.lastIndexOf('/');
  const ip = slash < 0 ? '' : key.slice(0, slash);
  const type = key.slice(slash + 1);
  const range = first === last ? String(first) : `${first}-${last}`;
  return `${ip === '' ? range : `${ip}:${range}->${range}`}/${type}`;
}

/**
 * `docker ps`'s PORTS of a running container: its published ports
 * (`0.0.0.0:8080->80/tcp`) and the image's exposed ports not published
 * (`443/tcp`), joined by `, `, with consecutive ports of one address that
 * map to themselves folded into ranges (`0.0.0.0:8000-8001->8000-8001/tcp`,
 * `7000-7002/udp`), in the order Docker's formatter gives. Empty for a
 * container that is not running or not on a network of its own
 * (`--network host|none`), as Docker.
 *
 * @example
 * ```ts
 * portsText({ status: 'running', ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } as ContainerInfo); // '0.0.0.0:8080->80/tcp'
 * ```
 */
export function portsText(c: Pick<ContainerInfo, 'status' | 'ports' | 'exposedPorts'> & { network?: ContainerInfo['network'] }): string {
  if (c.status !== 'running' && c.status !== 'paused') return '';
  // Docker lists no ports for a container on the host's network or on none.
  if (c.network !== undefined && c.network !== 'bridge') return '';
  const rows: PortRow[] = (c.ports ?? []).map((p) => ({ ip: p.hostIp ?? '0.0.0.0', privatePort: p.containerPort, publicPort: p.hostPort, type: p.protocol }));
  for (const exposed of c.exposedPorts ?? []) {
    const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(exposed);
    if (!m) continue;
    const privatePort = Number(m[1]);
    const type = m[2] ?? 'tcp';
    if (!rows.some((r) => r.privatePort === privatePort && r.type === type)) rows.push({ ip: '', privatePort, publicPort: 0, type });
  }
  rows.sort((a, b) => a.privatePort - b.privatePort || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0) || a.publicPort - b.publicPort || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const mappings: string[] = [];
  for (const r of rows) {
    let key = r.type;
    if (r.ip !== '') {
      if (r.publicPort !== r.privatePort) {
        mappings.push(`${r.ip.includes(':') ? `[${r.ip}]` : r.ip}:${r.publicPort}->${r.privatePort}/${r.type}`);
        continue;
      }
      key = `${r.ip}/${r.type}`;
    }
    const group = groups.get(key);
    if (!group) groups.set(key, { first: r.privatePort, last: r.privatePort });
    else if (r.privatePort === group.last + 1) group.last = r.privatePort;
    else {
      result.push(portGroup(key, group.first, group.last));
      groups.set(key, { first: r.privatePort, last: r.privatePort });
    }
  }
  for (const [key, g] of groups) result.push(portGroup(key, g.first, g.last));
  return [...result, ...mappings].join(', ');
}
