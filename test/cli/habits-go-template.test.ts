/**
 * The Go template subset behind `--format`: what `docker inspect -f` users
 * type, printed as Go prints it, and laws over random data.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGoTemplate, formatList, GoTemplateError, goValue, renderGoTemplate } from '../../src/cli/go-template.js';

const image = {
  Id: 'sha256:3f57d9401f8d',
  RepoTags: ['busybox:latest', 'me/box:1'],
  Size: 4261552,
  Config: { Env: ['PATH=/bin', 'HOME=/root'], Cmd: ['sh'], Labels: { 'org.example.version': '1.2', maintainer: 'me' }, WorkingDir: '' },
};

describe('Go templates as docker inspect -f reads them', () => {
  it.each([
    ['{{.Id}}', 'sha256:3f57d9401f8d'],
    ['{{.Config.Env}}', '[PATH=/bin HOME=/root]'],
    ['{{json .Config.Cmd}}', '["sh"]'],
    ['{{json .Config.Labels}}', '{"org.example.version":"1.2","maintainer":"me"}'],
    ['{{index .Config.Labels "org.example.version"}}', '1.2'],
    ['{{index .RepoTags 1}}', 'me/box:1'],
    ['{{range .Config.Env}}{{println .}}{{end}}', 'PATH=/bin\nHOME=/root\n'],
    ['{{range $i, $e := .RepoTags}}{{$i}}={{$e}} {{end}}', '0=busybox:latest 1=me/box:1 '],
    ['{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}};{{end}}', 'maintainer:me;org.example.version:1.2;'],
    ['{{.Config.Labels}}', 'map[maintainer:me org.example.version:1.2]'],
    ['{{.Size}}', '4261552'],
    ['{{.Nothing}}', '<no value>'],
    ['{{if .Config.WorkingDir}}dir{{else}}none{{end}}', 'none'],
    ['{{with .Config}}{{.Cmd}}{{end}}', '[sh]'],
    ['{{.Config.Cmd | json}}', '["sh"]'],
    ['{{join .Config.Env ","}}', 'PATH=/bin,HOME=/root'],
    ['{{upper (index .RepoTags 0)}}', 'BUSYBOX:LATEST'],
    ['{{len .RepoTags}}', '2'],
    ['{{printf "%s has %d tags" .Id (len .RepoTags)}}', 'sha256:3f57d9401f8d has 2 tags'],
    ['a {{- " b " -}} c', 'a b c'],
    ['{{if eq .Id "x"}}yes{{else if .Size}}big{{end}}', 'big'],
    ['{{/* a comment */}}ok', 'ok'],
    ['{{$tags := .RepoTags}}{{index $tags 0}}', 'busybox:latest'],
    ['{{range .Config.Env}}{{$.Id}} {{end}}', 'sha256:3f57d9401f8d sha256:3f57d9401f8d '],
  ])('%s', (template, expected) => {
    expect(renderGoTemplate(template, image)).toBe(expected);
  });

  it.each(['{{.Id', '{{if .Id}}x', '{{end}}', '{{nosuchfn .Id}}', '{{.Id.Deeper}}', '{{"unterminated}}'])('%s is a GoTemplateError', (template) => {
    expect(() => renderGoTemplate(template, image)).toThrow(GoTemplateError);
  });

  it('table formats print a header from the field titles and align the columns', () => {
    const out = formatList('table {{.ID}}\t{{.Name}}', [{ ID: 'abc', Name: 'web' }, { ID: 'abcdefghijkl', Name: 'db' }], { ID: 'ID', Name: 'NAME' });
    // The first column is its widest cell plus three: 12 + 3.
    expect(out).toBe(`${'ID'.padEnd(15)}NAME\n${'abc'.padEnd(15)}web\n${'abcdefghijkl'.padEnd(15)}db\n`);
    expect(formatList('{{.ID}}', [{ ID: 'a' }, { ID: 'b' }], { ID: 'ID' })).toBe('a\nb\n');
  });
});

describe('laws', () => {
  const json = fc.jsonValue({ maxDepth: 3 });

  it('text without actions is printed as it is', () => {
    fc.assert(fc.property(fc.string().filter((s) => !s.includes('{{')), (text) => renderGoTemplate(text, {}) === text));
  });

  it('{{json .}} is JSON that reads back as the value', () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(JSON.parse(renderGoTemplate('{{json .}}', value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('a field prints its value as %v does, and a list is its items joined by spaces in brackets', () => {
    fc.assert(
      fc.property(fc.array(fc.string().filter((s) => !/\s/.test(s))), fc.string(), (items, name) => {
        expect(renderGoTemplate('{{.L}}', { L: items })).toBe(`[${items.join(' ')}]`);
        expect(renderGoTemplate('{{.S}}', { S: name })).toBe(name);
        expect(renderGoTemplate('{{range .L}}{{.}}\n{{end}}', { L: items })).toBe(items.map((i) => `${i}\n`).join(''));
      }),
    );
  });

  it('a compiled template gives what rendering gives, for every value', () => {
    const t = compileGoTemplate('{{.a}}-{{json .b}}');
    fc.assert(fc.property(json, json, (a, b) => t({ a, b }) === renderGoTemplate('{{.a}}-{{json .b}}', { a, b }) && t({ a, b }).startsWith(goValue(a))));
  });
});
