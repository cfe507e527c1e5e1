/**
 * The pure parts of the isolation work: `-p` parsing (Docker's syntax,
 * typed errors), the exec-failure rewrite (the same output however the
 * stream is cut into chunks), HOME from passwd, and the terminal's size in
 * the command `script` runs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ContainerError, parsePublish } from '../../src/containers/index.js';
import { withTerminalSize } from '../../src/containers/attach.js';
import { execFailureFilter, execFailureMessage } from '../../src/sandbox/exec-failure.js';
import { homeOf, parsePasswd, withHome } from '../../src/sandbox/users.js';

describe('parsePublish', () => {
  it('reads Docker\'s forms', () => {
    expect(parsePublish('8080:80')).toEqual({ hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('127.0.0.1:8080:80/tcp')).toEqual({ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('5353:53/udp')).toEqual({ hostPort: 5353, containerPort: 53, protocol: 'udp' });
    expect(parsePublish('[::1]:8080:80')).toEqual({ hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  });

  it('refuses the rest with INVALID_OPTION', () => {
    for (const bad of ['80', '0:80', '8080:65536', 'a:80', '8080:80/sctp', 'host.example:8080:80', '8080:80/tcp/x', '']) {
      expect(() => parsePublish(bad), bad).toThrow(ContainerError);
      try {
        parsePublish(bad);
      } catch (err) {
        expect((err as ContainerError).code).toBe('INVALID_OPTION');
      }
    }
  });

  it('round-trips every valid host port, container port and protocol (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), fc.constantFrom('tcp', 'udp'), fc.option(fc.ipV4(), { nil: undefined }), (host, container, protocol, ip) => {
        const text = `${ip === undefined ? '' : `${ip}:`}${host}:${container}/${protocol}`;
        expect(parsePublish(text)).toEqual({ ...(ip === undefined ? {} : { hostIp: ip }), hostPort: host, containerPort: container, protocol });
      }),
    );
  });
});

describe('execFailureFilter', () => {
  const run = (chunks: string[]) => {
    const out: Buffer[] = [];
    const filter = execFailureFilter((c) => out.push(c));
    for (const c of chunks) filter.write(Buffer.from(c));
    filter.end();
    return Buffer.concat(out).toString();
  };

  it('rewrites unshare\'s first line, keeps everything else', () => {
    expect(run(['unshare: failed to execute nosuch: No such file or directory\n'])).toBe('exec: "nosuch": executable file not found in $PATH\n');
    expect(run(['unshare: failed to execute /bin/x: No such file or directory\r\n'])).toBe('exec: "/bin/x": stat /bin/x: no such file or directory\r\n');
    expect(run(['unshare: failed to execute ./s: Permission denied\n'])).toBe('exec: "./s": permission denied\n');
    expect(run(['hello\nunshare: failed to execute x: No such file or directory\n'])).toBe('hello\nunshare: failed to execute x: No such file or directory\n');
    expect(run(['unshare: something else\n'])).toBe('unshare: something else\n');
    expect(run(['unsh'])).toBe('unsh');
    expect(execFailureMessage('a', 'Exec format error')).toBe('exec: "a": exec format error');
  });

  it('gives the same output however the stream is cut (property)', () => {
    const texts = fc.oneof(
      fc.constant('unshare: failed to execute nosuch: No such file or directory\nrest\n'),
      fc.constant('unshare: failed to execute ./a b: Permission denied\r\n'),
      fc.string(),
      fc.string().map((s) => `unshare: ${s}`),
    );
    fc.assert(
      fc.property(texts, fc.array(fc.nat(), { maxLength: 6 }), (text, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let at = 0;
        for (const p of points) {
          chunks.push(text.slice(at, p));
          at = p;
        }
        chunks.push(text.slice(at));
        expect(run(chunks.filter((c) => c !== ''))).toBe(run([text]));
      }),
    );
  });
});

describe('HOME and the terminal size', () => {
  it('HOME comes from the passwd entry, / without one, and never replaces a HOME set', () => {
    const passwd = parsePasswd('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nx:x:5:5:::\n');
    expect(homeOf(passwd, 0)).toBe('/root');
    expect(homeOf(passwd, 65534)).toBe('/nonexistent');
    expect(homeOf(passwd, 5)).toBe('/');
    expect(homeOf(passwd, 77)).toBe('/');
    expect(withHome(['A=1'], '/root')).toEqual(['A=1', 'HOME=/root']);
    expect(withHome(['HOME=', 'A=1'], '/root')).toEqual(['HOME=', 'A=1']);
  });

  it('the command script runs sets the size first, quoting the argv', () => {
    const terminal = { size: () => ({ columns: 120, rows: 40 }), onResize: () => () => {} };
    expect(withTerminalSize(['sh', '-c', "echo 'x'"], terminal)).toBe(`stty rows 40 cols 120 2>/dev/null; exec 'sh' '-c' 'echo '\\''x'\\'''`);
    expect(withTerminalSize(['sh'], undefined)).toBe("'sh'");
    expect(withTerminalSize(['sh'], { size: () => ({ columns: 0, rows: 0 }), onResize: () => () => {} })).toBe("'sh'");
  });
});
