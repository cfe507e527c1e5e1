/**
 * Platforms (`linux/amd64`, `linux/arm/v7`): parsing, printing, matching.
 * @module
 */
import { InvalidImageError } from './errors.js';
import type { Platform } from './types.js';

const NODE_TO_GOARCH: Record<string, { architecture: string; variant?: string }> = {
  x64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64' },
  arm: { architecture: 'arm', variant: 'v7' },
  ia32: { architecture: '386' },
  ppc64: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
  loong64: { architecture: 'loong64' },
  mips: { architecture: 'mips' },
  mipsel: { architecture: 'mipsle' },
};

/**
 * The Linux platform matching this machine's CPU, in Go's names
 * (`process.arch` `x64` → `amd64`). Images are Linux images whatever the host.
 *
 * @example
 * ```ts
 * hostPlatform(); // { os: 'linux', architecture: 'amd64' } on x86-64
 * ```
 */
export function hostPlatform(): Platform {
  const arch = NODE_TO_GOARCH[process.arch] ?? { architecture: process.arch };
  return arch.variant
    ? { architecture: arch.architecture, os: 'linux', variant: arch.variant }
    : { architecture: arch.architecture, os: 'linux' };
}

/**
 * Parses `os/arch[/variant]` (`linux/arm64`, `linux/arm/v7`).
 *
 * @throws {@link InvalidImageError} for a string with fewer than two or more than three parts.
 * @example
 * ```ts
 * parsePlatform('linux/arm/v7'); // { os: 'linux', architecture: 'arm', variant: 'v7' }
 * ```
 */
export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '' || !/^[A-Za-z0-9._-]+$/.test(p))) {
    throw new InvalidImageError('platform', `${JSON.stringify(value)} is not os/arch[/variant]`);
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  return variant ? { os: os.toLowerCase(), architecture: architecture.toLowerCase(), variant } : { os: os.toLowerCase(), architecture: architecture.toLowerCase() };
}

/**
 * Prints a platform as `os/arch[/variant]`.
 *
 * @example
 * ```ts
 * formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }); // 'linux/arm64/v8'
 * ```
 */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter((p) => p).join('/');
}

// The variant a platform has when none is written (containerd's normalization).
function defaultVariant(p: Platform): string | undefined {
  if (p.variant) return p.variant;
  if (p.architecture === 'arm64') return 'v8';
  if (p.architecture === 'arm') return 'v7';
  return undefined;
}

/**
 * True when an image for `candidate` runs on `wanted`: same os and
 * architecture, and the same variant once defaults are filled in
 * (`arm64` ≡ `arm64/v8`, `arm` ≡ `arm/v7`).
 *
 * @example
 * ```ts
 * platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }); // true
 * ```
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  return (
    wanted.os === candidate.os &&
    wanted.architecture === candidate.architecture &&
    defaultVariant(wanted) === defaultVariant(candidate)
  );
}
