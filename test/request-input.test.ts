// Request text that Postgres or JSON cannot keep is refused with a clear message at the core, for every entry point.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/core/config.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import { validateRequest } from '../src/core/tasks/request-input.ts';

const config = loadConfig({});
const check = (text: string) => () => validateRequest(config, { text }, 'empty');

describe('validateRequest', () => {
  it('refuses a NUL character (Postgres text cannot hold it) with a readable reason', () => {
    expect(check('hello\u0000world')).toThrow(InvalidInputError);
    expect(check('hello\u0000world')).toThrow(/NUL character/);
  });

  it('refuses a lone UTF-16 surrogate but keeps real astral characters', () => {
    expect(check('broken \ud800 text')).toThrow(/lone UTF-16 surrogate/);
    expect(check('tail \udc00')).toThrow(InvalidInputError);
    expect(validateRequest(config, { text: 'emoji 😀 ok' }, 'empty').text).toBe('emoji 😀 ok');
  });
});
