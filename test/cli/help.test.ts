/**
 * `--help` and `-h` answer with the command's usage when they are options,
 * wherever they stand among the options, and stay untouched when they are a
 * flag's value or part of a container's command.
 */
import { describe, expect, it } from 'vitest';
import { parseFlags, HelpRequested, type CliIo } from '../../src/cli/io.js';
import { commands } from '../../src/cli/commands/index.js';
import { main } from '../../src/cli/main.js';

async function cli(argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readText: async () => '' };
  const status = await main(argv, io);
  return { status, stdout, stderr };
}

const usageOf = (name: string) => commands.find((c) => c.name === name)!.usage;

describe('help', () => {
  it('prints the usage for --help or -h among the options, with status 0', async () => {
    for (const argv of [['build', '--help'], ['build', '-t', 'x', '--help', '.'], ['images', '-h'], ['cache', 'du', '--help'], ['run', '--rm', '-h']]) {
      const out = await cli(argv);
      expect({ argv, status: out.status, stdout: out.stdout }).toEqual({ argv, status: 0, stdout: usageOf(argv[0]!) });
    }
  });

  it('leaves -h and --help to the container command after the image', () => {
    const { positional } = parseFlags(['--rm', 'img', 'httpd', '-h', '/www', '--help'], [{ name: 'rm' }], { interspersed: false });
    expect(positional).toEqual(['img', 'httpd', '-h', '/www', '--help']);
  });

  it('leaves them to a flag that takes them as its value, and to a command whose -h means something else', () => {
    const value = parseFlags(['-e', '--help', 'img'], [{ name: 'env', short: 'e', value: true, repeat: true }]);
    expect(value.flags.all('env')).toEqual(['--help']);
    const own = parseFlags(['-h', 'box'], [{ name: 'hostname', short: 'h', value: true }]);
    expect(own.flags.get('hostname')).toBe('box');
    expect(() => parseFlags(['a', '--help'], [])).toThrow(HelpRequested);
    expect(() => parseFlags(['--', '--help'], [])).not.toThrow();
  });
});
