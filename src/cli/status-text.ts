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
