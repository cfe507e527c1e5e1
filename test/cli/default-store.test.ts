/**
 * The store a command uses when given none is the user's, not the working
 * directory's: an image built in one directory is listed from another.
 * Through the real program, with HOME and XDG_DATA_HOME pointed at a
 * temporary directory.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '../..');
const tsx = join(repo, 'node_modules/tsx/dist/esm/index.mjs');
const dir = mkdtempSync(join(tmpdir(), 'layerkit-default-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const exec = promisify(execFile);
function cli(args: string[], cwd: string, env: Record<string, string | undefined>) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LAYERKIT_HOME: undefined, XDG_DATA_HOME: undefined, ...env };
  for (const key of Object.keys(childEnv)) if (childEnv[key] === undefined) delete childEnv[key];
  return exec(process.execPath, ['--import', tsx, join(repo, 'src/cli/main.ts'), ...args], { cwd, env: childEnv, timeout: 120_000 });
}

describe('the default store', () => {
  it('is ~/.local/share/layerkit whatever the working directory; XDG_DATA_HOME and LAYERKIT_HOME move it', { timeout: 300_000 }, async () => {
    const home = join(dir, 'home');
    const project = join(dir, 'project');
    const elsewhere = join(dir, 'elsewhere');
    for (const d of [home, project, elsewhere]) mkdirSync(d, { recursive: true });
    writeFileSync(join(project, 'Dockerfile'), 'FROM scratch\nCOPY a /a\n');
    writeFileSync(join(project, 'a'), 'a\n');

    await cli(['build', '-q', '-t', 'moved:1', '.'], project, { HOME: home });
    expect(existsSync(join(home, '.local/share/layerkit/index.json'))).toBe(true);
    expect(readdirSync(project).sort()).toEqual(['Dockerfile', 'a']);
    const listed = await cli(['images'], elsewhere, { HOME: home });
    expect(listed.stdout).toMatch(/^moved\s+1\s/m);

    // XDG_DATA_HOME, then LAYERKIT_HOME, choose other stores: the image is not in them.
    const xdg = await cli(['images'], elsewhere, { HOME: home, XDG_DATA_HOME: join(dir, 'xdg') });
    expect(xdg.stdout).not.toContain('moved');
    const explicit = await cli(['images'], elsewhere, { HOME: home, LAYERKIT_HOME: join(dir, 'explicit') });
    expect(explicit.stdout).not.toContain('moved');
  });
});
