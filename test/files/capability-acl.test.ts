// CAPABILITY_ACL: most specific user pattern first, first matching capability pattern decides, admins pass.
import { describe, expect, it } from 'vitest';
import { assertCapabilitiesAllowed, isAllowed } from '../../src/core/acl/capability-acl.ts';
import { loadConfig } from '../../src/core/config.ts';
import { ConfigError, ForbiddenError } from '../../src/core/errors.ts';

const withAcl = (acl?: unknown) => loadConfig(acl === undefined ? {} : { CAPABILITY_ACL: JSON.stringify(acl) });

describe('capability ACL', () => {
  it('by default allows everything but command.* and code.* to non-admins; admins may use all', () => {
    const c = withAcl();
    expect(isAllowed(c, 'telegram:1', false, 'web.fetch')).toBe(true);
    expect(isAllowed(c, 'telegram:1', false, 'command.run')).toBe(false);
    expect(isAllowed(c, 'telegram:1', false, 'code.analyze')).toBe(false);
    expect(isAllowed(c, 'telegram:1', true, 'command.run')).toBe(true);
  });

  it('reads the most specific entry first; the first matching pattern decides; nothing matching is refused', () => {
    const c = withAcl({
      '*': ['!command.*', '!code.*', 'demo.*', 'doc.*'],
      'slack:*': ['code.analyze'],
      'telegram:42': ['command.run', '!doc.*'],
    });
    expect(isAllowed(c, 'telegram:42', false, 'command.run')).toBe(true);
    expect(isAllowed(c, 'telegram:42', false, 'doc.extract')).toBe(false);
    expect(isAllowed(c, 'telegram:42', false, 'demo.echo')).toBe(true);
    expect(isAllowed(c, 'telegram:7', false, 'command.run')).toBe(false);
    expect(isAllowed(c, 'slack:U1', false, 'code.analyze')).toBe(true);
    expect(isAllowed(c, 'slack:U1', false, 'command.run')).toBe(false);
    expect(isAllowed(c, 'web:bob', false, 'web.fetch')).toBe(false);
  });

  it('refuses with a message naming every capability outside the allowance', () => {
    const c = withAcl();
    expect(() =>
      assertCapabilitiesAllowed(c, 'sms:+1555', false, ['demo.echo', 'command.run', 'code.analyze']),
    ).toThrow(ForbiddenError);
    expect(() => assertCapabilitiesAllowed(c, 'sms:+1555', false, ['command.run', 'code.analyze'])).toThrow(
      'You are not allowed to use command.run, code.analyze (CAPABILITY_ACL)',
    );
  });

  it('rejects a malformed CAPABILITY_ACL or COMMAND_ALLOWLIST naming the variable', () => {
    expect(() => loadConfig({ CAPABILITY_ACL: '{nope' })).toThrow(/CAPABILITY_ACL: is not valid JSON/);
    expect(() => loadConfig({ CAPABILITY_ACL: '{"bob":["*"]}' })).toThrow(
      /CAPABILITY_ACL: bad entry "bob": user patterns/,
    );
    expect(() => loadConfig({ COMMAND_ALLOWLIST: '{"x":{"argv":"/bin/x"}}' })).toThrow(ConfigError);
    expect(() => loadConfig({ COMMAND_ALLOWLIST: '{"x":{"argv0":"/bin/x"}}' })).not.toThrow();
  });
});
