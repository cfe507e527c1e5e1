/**
 * Dockerfile parsing side by side with the npm parsers people use today, on
 * one realistic 1,800-line Dockerfile generated here (fixed seed): long RUN
 * chains with continuations, ENV/LABEL lists, COPY/ADD flags, RUN mounts,
 * heredocs, comments, several stages.
 *
 * layerkit's side is what the peers do in one call: text → syntax tree
 * (`parseDockerfile`) → typed instructions (`parseInstructions`).
 */
import { DockerfileParser } from 'dockerfile-ast';
import { parse as dockerFileParserParse } from 'docker-file-parser';
import { parseDockerfile } from '../src/dockerfile/index.js';
import { parseInstructions } from '../src/dockerfile/index.js';
import { compare, ms, type BenchCase } from './lib.js';

/** mulberry32: a small seeded PRNG, so every run parses the same text. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PACKAGES = ['ca-certificates', 'curl', 'git', 'build-essential', 'pkg-config', 'libssl-dev', 'zlib1g-dev', 'python3', 'python3-pip', 'jq', 'unzip', 'xz-utils', 'openssh-client', 'gnupg', 'tzdata', 'locales'];
const WORDS = ['cache', 'build', 'release', 'assets', 'vendor', 'config', 'static', 'migrations', 'scripts', 'bin'];

/** A multi-stage Dockerfile of at least `minLines` lines, the same for the same seed. */
export function realisticDockerfile(minLines = 1800, seed = 0x5eed): string {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const lines: string[] = ['# syntax=docker/dockerfile:1.7', '', 'ARG GO_VERSION=1.22', 'ARG NODE_VERSION=20', 'ARG BASE=debian:12-slim', ''];
  for (let stage = 0; lines.length < minLines; stage++) {
    const name = `stage${stage}`;
    lines.push(`# ---- ${name}: ${pick(WORDS)} ${pick(WORDS)} ----`);
    lines.push(stage % 3 === 0 ? `FROM --platform=$BUILDPLATFORM golang:\${GO_VERSION} AS ${name}` : `FROM \${BASE} AS ${name}`);
    lines.push('ARG TARGETOS TARGETARCH', `WORKDIR /src/${pick(WORDS)}`);
    lines.push(`ENV DEBIAN_FRONTEND=noninteractive \\`, `    LANG=C.UTF-8 \\`, `    APP_HOME="/opt/app ${stage}" \\`, `    PATH=/opt/app/bin:$PATH`);
    lines.push('# Install the toolchain in one layer.');
    const packages = Array.from({ length: int(6, 14) }, () => pick(PACKAGES));
    lines.push('RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\', '    --mount=type=cache,target=/var/lib/apt,sharing=locked \\');
    lines.push('    apt-get update \\', '    && apt-get install -y --no-install-recommends \\');
    for (const p of packages) lines.push(`        ${p} \\`);
    lines.push('    && rm -rf /var/lib/apt/lists/*');
    lines.push(`LABEL org.opencontainers.image.title="${name}" \\`, `      org.opencontainers.image.version="1.${stage}.0" \\`, '      org.opencontainers.image.source="https://example.com/repo" \\', `      com.example.owner="team ${pick(WORDS)}"`);
    lines.push(`COPY --link --chown=1000:1000 --chmod=0644 go.mod go.sum ./`);
    if (stage > 0) lines.push(`COPY --from=stage${stage - 1} --link /out/ /opt/app/${pick(WORDS)}/`);
    lines.push('RUN --mount=type=cache,target=/root/.cache/go-build \\', '    --mount=type=bind,source=.,target=/src/tree \\', '    set -eux; \\');
    for (let i = int(4, 9); i > 0; i--) lines.push(`    go build -trimpath -ldflags="-s -w" -o /out/${pick(WORDS)}-${i} ./cmd/${pick(WORDS)} && \\`);
    lines.push('    ls -la /out');
    lines.push('', '# Configuration written inline.', `COPY <<EOF /etc/${name}.conf`);
    for (let i = int(3, 8); i > 0; i--) lines.push(`${pick(WORDS)}.${pick(WORDS)} = ${int(1, 999)}`);
    lines.push('EOF', 'RUN <<-EOT bash');
    for (let i = int(3, 7); i > 0; i--) lines.push(`\techo "step ${i}: $HOME/${pick(WORDS)}"`);
    lines.push('\tEOT');
    lines.push(`ADD --checksum=sha256:${'ab'.repeat(32)} https://example.com/${pick(WORDS)}.tar.gz /tmp/`);
    lines.push(`EXPOSE ${int(1000, 9000)}/tcp ${int(1000, 9000)}/udp`, 'USER 1000:1000');
    lines.push('HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD curl -fsS http://localhost/health || exit 1');
    lines.push(`ENTRYPOINT ["/opt/app/bin/${pick(WORDS)}", "--config", "/etc/${name}.conf"]`, 'CMD ["serve"]', '');
  }
  return lines.join('\n') + '\n';
}

const TEXT = realisticDockerfile();
const LINES = TEXT.split('\n').length - 1;

function layerkit(): number {
  return parseInstructions(parseDockerfile(TEXT)).stages.length;
}

function dockerfileAst(): number {
  return DockerfileParser.parse(TEXT).getInstructions().length;
}

function dockerFileParser(): number {
  return dockerFileParserParse(TEXT, { includeComments: false }).length;
}

/** Enough parses per timed round that one round takes tens of milliseconds. */
function repeat(fn: () => number, times: number): () => number {
  return () => {
    let sink = 0;
    for (let i = 0; i < times; i++) sink += fn();
    return sink;
  };
}

function syntaxOnly(): number {
  return parseDockerfile(TEXT).children.length;
}

async function against(peer: () => number, peerName: string) {
  const times = 20;
  const r = await compare({ rounds: 9, warmup: 3, baseline: repeat(peer, times), subject: repeat(layerkit, times) });
  // Not part of the ratio: how the time splits between the two passes.
  const tree = await compare({ rounds: 9, warmup: 1, baseline: repeat(peer, times), subject: repeat(syntaxOnly, times) });
  const each = (t: number) => ms(t / times);
  return {
    ratio: r.ratio,
    baseline: `${peerName} ${each(r.baselineMs)} per parse`,
    detail:
      `${LINES}-line Dockerfile: parseDockerfile + parseInstructions ${each(r.subjectMs)} per parse ` +
      `(parseDockerfile alone ${each(tree.subjectMs)}, ratio ${tree.ratio.toFixed(3)}); median of 9 rounds × ${times}`,
  };
}

export const cases: BenchCase[] = [
  { name: 'parse.vs-dockerfile-ast', target: 0.2, run: () => against(dockerfileAst, 'dockerfile-ast') },
  { name: 'parse.vs-docker-file-parser', target: 1.0, run: () => against(dockerFileParser, 'docker-file-parser') },
];
