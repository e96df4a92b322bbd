import { describe, expect, it } from 'vitest';
import { appEnvRules, assertAppEnvRules, evaluateAppEnvRules, type RuleContext } from '../../src/config/app-env-rules.js';
import { parseConfig } from '../../src/config/load-config.js';
import { parseEnv, resolveSettings } from '../../src/config/runtime-settings.js';
import { InputInvalidError, SafetyRefusedError } from '../../src/errors.js';

const safeProd = (): RuleContext => ({
  settings: resolveSettings({ appEnv: 'prod', databaseUrl: 'postgres://u@127.0.0.1/db', lockTimeout: '2000', statementTimeout: '60000' }, {}, undefined),
  config: parseConfig({ tables: [{ name: 't', layout: { type: 'hash', key: 'k' } }] }),
  command: 'backfill',
  startsEmbeddedDatabase: false,
});

/** One violating context per rule: the rule table and this list must stay in step. */
const violations: Record<string, (c: RuleContext) => RuleContext> = {
  'prod-no-embedded-database': (c) => ({ ...c, startsEmbeddedDatabase: true }),
  'prod-remote-requires-tls': (c) => ({ ...c, settings: { ...c.settings, databaseUrl: 'postgres://u:pw@db.example.com/db' } }),
  'prod-lock-timeout-required': (c) => ({ ...c, settings: { ...c.settings, lockTimeoutExplicit: false } }),
  'prod-statement-timeout-required': (c) => ({ ...c, settings: { ...c.settings, statementTimeoutExplicit: false } }),
  'prod-lock-timeout-ceiling': (c) => ({ ...c, settings: { ...c.settings, lockTimeoutMs: 60_000 } }),
  'prod-purge-partition-first': (c) => ({ ...c, config: parseConfig({ tables: [{ name: 't', layout: { type: 'hash', key: 'k' } }], purge: { default_mode: 'delete' } }) }),
  'prod-retention-archive-default': (c) => ({ ...c, config: parseConfig({ tables: [{ name: 't', layout: { type: 'range', column: 'c', interval: 'month', retention: { keep: 3, action: 'drop' } } }] }) }),
};

describe('APP_ENV rules', () => {
  it('has a violating case for every rule', () => {
    expect(Object.keys(violations).sort()).toEqual(appEnvRules.map((r) => r.id).sort());
  });

  it('a safe prod context passes every rule', () => {
    expect(() => assertAppEnvRules(safeProd())).not.toThrow();
    expect(evaluateAppEnvRules(safeProd()).every((o) => o.status === 'pass')).toBe(true);
  });

  it.each(Object.keys(violations))('%s: refused in prod with its id, allowed in dev', (id) => {
    const ctx = violations[id]!(safeProd());
    let thrown: unknown;
    try {
      assertAppEnvRules(ctx);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SafetyRefusedError);
    expect((thrown as SafetyRefusedError).ruleId).toBe(id);
    expect((thrown as SafetyRefusedError).exitCode).toBe(3);
    expect(evaluateAppEnvRules(ctx).find((o) => o.id === id)?.status).toBe('fail');
    const dev = { ...ctx, settings: { ...ctx.settings, appEnv: 'dev' as const } };
    expect(() => assertAppEnvRules(dev)).not.toThrow();
    expect(evaluateAppEnvRules(dev).find((o) => o.id === id)?.status).toBe('skip');
  });

  it('treats sslmode=require on a remote host as TLS', () => {
    const c = safeProd();
    const tls = { ...c, settings: { ...c.settings, databaseUrl: 'postgres://u@db.example.com/db?sslmode=verify-full' } };
    expect(() => assertAppEnvRules(tls)).not.toThrow();
  });
});

describe('runtime settings', () => {
  it('flag beats env beats config; defaults are marked implicit', () => {
    const config = parseConfig({ tables: [{ name: 't', layout: { type: 'hash', key: 'k' } }], lock_timeout_ms: 900 });
    expect(resolveSettings({}, {}, config)).toMatchObject({ lockTimeoutMs: 900, lockTimeoutExplicit: true, statementTimeoutExplicit: false, appEnv: 'dev' });
    expect(resolveSettings({}, { PARTGOV_LOCK_TIMEOUT_MS: 700 }, config).lockTimeoutMs).toBe(700);
    expect(resolveSettings({ lockTimeout: '500' }, { PARTGOV_LOCK_TIMEOUT_MS: 700 }, config).lockTimeoutMs).toBe(500);
  });

  it('refuses bad env and flag values with the variable name', () => {
    expect(() => parseEnv({ APP_ENV: 'staging' })).toThrow(/APP_ENV/);
    expect(() => parseEnv({ PARTGOV_LOCK_TIMEOUT_MS: 'soon' })).toThrow(InputInvalidError);
    expect(() => resolveSettings({ lockTimeout: '-1' }, {}, undefined)).toThrow(/--lock-timeout/);
    expect(() => resolveSettings({ appEnv: 'production' }, {}, undefined)).toThrow(/--app-env/);
  });
});
