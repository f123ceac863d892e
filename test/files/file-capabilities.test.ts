// The doc/command/code families as workers advertise them, the file plans of the rule planner, and the word parser.
import { describe, expect, it } from 'vitest';
import { planFileRequest } from '../../src/core/artifacts/file-plans.ts';
import { loadConfig } from '../../src/core/config.ts';
import { builtinCapabilities } from '../../src/workers/capabilities/index.ts';
import { parseWords, resolveCommand } from '../../src/workers/capabilities/command/command-words.ts';
import { extractDocument } from '../../src/workers/capabilities/doc/extract-document.ts';
import { type Capability, parseInput, specOf } from '../../src/workers/define-capability.ts';
import { fixture } from './files-helpers.ts';

const names = (env: Record<string, string>) => Object.keys(builtinCapabilities(loadConfig(env)));

describe('advertising', () => {
  it('command.* and code.* are not advertised until configured; doc.extract always is', () => {
    expect(names({})).toEqual(expect.arrayContaining(['doc.extract']));
    expect(names({})).not.toContain('command.run');
    expect(names({})).not.toContain('code.analyze');
    const all = names({ COMMAND_ALLOWLIST: '{"echo":{"argv0":"/bin/echo"}}', CODE_ROOTS: '/srv/code' });
    expect(all).toEqual(expect.arrayContaining(['doc.extract', 'command.run', 'code.analyze']));
  });

  it('each spec has a one-line description and an object input schema', () => {
    const caps = builtinCapabilities(
      loadConfig({ COMMAND_ALLOWLIST: '{"echo":{"argv0":"/bin/echo"}}', CODE_ALLOW_HOSTS: 'github.com' }),
    );
    for (const name of ['doc.extract', 'command.run', 'code.analyze']) {
      const spec = specOf(caps[name] as Capability)!;
      expect(spec.description).toMatch(/^[^\n]{20,200}$/);
      expect(spec.inputSchema.type).toBe('object');
      expect(Object.keys(spec.inputSchema.properties as object).length).toBeGreaterThan(0);
    }
    expect(specOf(caps['command.run'] as Capability)!.description).toContain('echo');
  });
});

describe('file plans', () => {
  const pdf = (name: string) => ({ name, mediaType: 'application/pdf', size: 1000 });
  it('extracts each readable file; "compare" with several adds llm.compare over all of them', () => {
    const plan = planFileRequest({
      text: 'Compare these policies',
      userId: 'u',
      attachments: [pdf('a.pdf'), pdf('b.pdf')],
    })!;
    expect(plan.steps.map((s) => [s.key, s.capability, s.dependsOn])).toEqual([
      ['extract1', 'doc.extract', []],
      ['extract2', 'doc.extract', []],
      ['compare', 'llm.compare', ['extract1', 'extract2']],
    ]);
    expect(plan.steps[1]!.input).toEqual({ artifact: 'b.pdf' });
  });

  it('leaves pictures alone and plans nothing file-related without readable files', () => {
    const photo = { name: 'photo-1.jpg', mediaType: 'image/jpeg', size: 10 };
    expect(planFileRequest({ text: 'look', userId: 'u', attachments: [photo] })).toBeNull();
    const mixed = planFileRequest({ text: 'read', userId: 'u', attachments: [photo, pdf('x.pdf')] })!;
    expect(mixed.steps.map((s) => s.input)).toEqual([{ artifact: 'x.pdf' }]);
  });

  it('plans code.analyze for a code base named by URL or path, and llm.analyze only with an LLM', () => {
    const req = { text: 'Analyze and improve the logging system in my codebase https://github.com/o/r.', userId: 'u' };
    expect(planFileRequest(req)!.steps.map((s) => s.capability)).toEqual(['code.analyze']);
    expect(planFileRequest(req)!.steps[0]!.input).toMatchObject({ source: 'https://github.com/o/r' });
    expect(planFileRequest(req, { llmSteps: true })!.steps.map((s) => s.capability)).toEqual([
      'code.analyze',
      'llm.analyze',
    ]);
    expect(planFileRequest({ text: 'analyze my code', userId: 'u' })).toBeNull();
  });
});

describe('file plans fit the real llm.* inputs', () => {
  const llm = builtinCapabilities(loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }));
  const pdf = (name: string) => ({ name, mediaType: 'application/pdf', size: 1000 });
  // The worker validates each input with the capability's schema and drops unknown fields: the user's request must
  // arrive as the step's instructions, not in a field the capability does not have.
  const inputOf = (
    text: string,
    extra: { llmSteps?: boolean } = { llmSteps: true },
    attachments = [pdf('a.pdf'), pdf('b.pdf')],
  ) => {
    const step = planFileRequest({ text, userId: 'u', attachments }, extra)!.steps.at(-1)!;
    return {
      capability: step.capability,
      parsed: parseInput(llm[step.capability] as Capability, step.input) as { instructions: string; text?: string },
    };
  };

  it('llm.compare gets the request and the page-citing line as instructions', () => {
    const { capability, parsed } = inputOf('Compare these policies for a family of four');
    expect(capability).toBe('llm.compare');
    expect(parsed).toEqual({
      instructions:
        'Compare these policies for a family of four\nName each document by its file name and cite the page (p. N) of each figure.',
    });
  });

  it('llm.analyze gets the request as instructions for documents and for code', () => {
    expect(inputOf('Summarise this contract', { llmSteps: true }, [pdf('c.pdf')]).parsed).toEqual({
      instructions: 'Summarise this contract\nCite the page (p. N) of what you use.',
    });
    const code = inputOf(
      'Analyze and improve the logging in my codebase https://github.com/o/r',
      { llmSteps: true },
      [],
    );
    expect(code.capability).toBe('llm.analyze');
    expect(code.parsed.instructions).toMatch(
      /^Analyze and improve the logging in my codebase https:\/\/github\.com\/o\/r\n.*unified diff/,
    );
    expect(code.parsed.text).toBeUndefined();
  });

  it('a very long request is cut to what the schema takes, keeping the added line', () => {
    const { parsed } = inputOf(`Compare ${'x'.repeat(10_000)}`);
    expect(parsed.instructions.length).toBeLessThanOrEqual(4000);
    expect(parsed.instructions).toMatch(/cite the page \(p\. N\) of each figure\.$/);
  });
});

describe('command words', () => {
  it('parses quoted words and refuses shell syntax', () => {
    expect(parseWords(`grep -n "two words" 'x y'`)).toEqual(['grep', '-n', 'two words', 'x y']);
    for (const bad of ['a | b', 'a && b', 'a; b', 'a > f', 'a < f', 'ls *.txt', 'echo $HOME', 'echo `id`', 'a & b'])
      expect(() => parseWords(bad), bad).toThrow(/not allowed/);
  });

  it('puts fixed arguments first and checks extra ones against allowArgs', () => {
    const list = { conv: { argv0: '/usr/bin/convert', args: ['-strip'], allowArgs: '[\\w.-]+' } };
    expect(resolveCommand(list, 'conv', ['a.png', 'b.jpg']).argv).toEqual([
      '/usr/bin/convert',
      '-strip',
      'a.png',
      'b.jpg',
    ]);
    expect(() => resolveCommand(list, 'conv', ['../x'])).toThrow(/not allowed for "conv"/);
    expect(() => resolveCommand(list, 'toString', [])).toThrow(/not an allowed command/);
  });
});

describe('document extraction', () => {
  const lim = { maxPages: 500, maxChars: 100_000 };
  it('reads HTML as Markdown (Readability keeps the article), Markdown and text by form-feed pages', async () => {
    const html = `<html><head><title>Release notes</title></head><body><nav>Home | About</nav>
      <article><h1>Release 2.0</h1><p>${'The new exporter writes CSV and JSON files for every report. '.repeat(8)}</p>
      <p>Upgrade with <code>npm i</code>.</p></article><footer>© 2026</footer></body></html>`;
    const doc = await extractDocument('notes.html', 'text/html', Buffer.from(html), lim);
    expect(doc.kind).toBe('html');
    expect(doc.title).toBe('Release notes');
    expect(doc.pages[0]!.text).toContain('The new exporter writes CSV');
    expect(doc.pages[0]!.text).toContain('`npm i`');
    expect(doc.pages[0]!.text).not.toContain('Home | About');
    const md = await extractDocument('a.md', '', Buffer.from('# One\f# Two'), lim);
    expect(md).toMatchObject({
      kind: 'markdown',
      pageCount: 2,
      pages: [
        { n: 1, text: '# One' },
        { n: 2, text: '# Two' },
      ],
    });
  });

  it('caps pages and characters, saying so, and refuses what it cannot read', async () => {
    const pdf = await extractDocument('p.pdf', 'application/pdf', fixture('policy-a.pdf'), {
      maxPages: 2,
      maxChars: 1000,
    });
    expect(pdf).toMatchObject({ pageCount: 3, truncated: true });
    expect(pdf.pages.map((p) => p.n)).toEqual([1, 2]);
    const txt = await extractDocument('t.txt', 'text/plain', Buffer.from('x'.repeat(50)), {
      maxPages: 5,
      maxChars: 10,
    });
    expect(txt).toMatchObject({ truncated: true, pages: [{ n: 1, text: 'x'.repeat(10) }] });
    await expect(extractDocument('cat.jpg', 'image/jpeg', Buffer.from([0xff, 0xd8]), lim)).rejects.toThrow(
      /not a supported document/,
    );
    await expect(extractDocument('bad.pdf', 'application/pdf', Buffer.from('not a pdf'), lim)).rejects.toThrow(
      /not a readable PDF/,
    );
  });
});
