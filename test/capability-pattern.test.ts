import { describe, expect, it } from 'vitest';
import {
  matchesAny,
  matchesPattern,
  parsePatterns,
  validateCapability,
  validatePattern,
} from '../src/core/capability-pattern.ts';

describe('capability patterns', () => {
  it.each([
    ['web.fetch', 'web.fetch', true],
    ['web.fetch', 'web.fetcher', false],
    ['web.fetch', 'xweb.fetch', false],
    ['web.*', 'web.fetch', true],
    ['web.*', 'web.fetch.deep', true],
    ['web.*', 'web', false],
    ['web.*', 'webx.fetch', false],
    ['*', 'gpu.render', true],
    ['*', 'demo', true],
    ['{web,llm}.summarize', 'web.summarize', true],
    ['{web,llm}.summarize', 'llm.summarize', true],
    ['{web,llm}.summarize', 'gpu.summarize', false],
    ['demo.{echo,sleep}', 'demo.sleep', true],
    ['demo.{echo,sleep}', 'demo.fail', false],
    ['*.render', 'gpu.render', true],
    ['*.render', 'gpu.renderer', false],
  ])('%s matches %s: %s', (pattern, cap, expected) => {
    expect(matchesPattern(pattern, cap)).toBe(expected);
  });

  it('matches any of several patterns', () => {
    expect(matchesAny(['demo.*', 'web.fetch'], 'web.fetch')).toBe(true);
    expect(matchesAny(['demo.*', 'web.fetch'], 'llm.chat')).toBe(false);
    expect(matchesAny([], 'demo.echo')).toBe(false);
  });

  it('splits pattern lists without breaking braces', () => {
    expect(parsePatterns('demo.*, {web,llm}.summarize ,web.fetch')).toEqual([
      'demo.*',
      '{web,llm}.summarize',
      'web.fetch',
    ]);
    expect(parsePatterns('')).toEqual([]);
  });

  it('validates names and patterns', () => {
    expect(validateCapability('web.fetch')).toBeNull();
    expect(validateCapability('Web Fetch')).toMatch(/not a capability name/);
    expect(validateCapability('web..fetch')).not.toBeNull();
    expect(validatePattern('{web,llm}.x')).toBeNull();
    expect(validatePattern('{web,llm.x')).toMatch(/unbalanced/);
    expect(validatePattern('web/fetch')).toMatch(/not a capability pattern/);
  });
});
