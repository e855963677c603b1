// The audit log settings: --audit-log-path (or off), --audit-log-max-size, --audit-log-max-files.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfigFile, resolveConfig, settingsFromEnv, settingsFromFlags } from './config.js';

const cwd = '/home/me/checkout';

void describe('audit log configuration', () => {
  void it('defaults to <data-dir>/audit/audit.log, 100Mi, 5 rotated files', () => {
    const { server } = resolveConfig({ mode: 'dev', cwd, flags: settingsFromFlags({ dataDir: 'state' }) });
    assert.deepEqual(server.auditLog, { path: '/home/me/checkout/state/audit/audit.log', maxBytes: 100 * 1024 * 1024, maxFiles: 5 });
  });

  void it('off disables it', () => {
    assert.equal(resolveConfig({ mode: 'server', cwd, flags: settingsFromFlags({ auditLogPath: 'off' }) }).server.auditLog, undefined);
    assert.equal(resolveConfig({ mode: 'server', cwd, env: settingsFromEnv({ OPENSCHEDULER_AUDIT_LOG_PATH: 'off' }) }).server.auditLog, undefined);
  });

  void it('takes flags, environment and file, with sizes as bytes or quantities', () => {
    const flags = settingsFromFlags({ auditLogPath: 'logs/audit.log', auditLogMaxSize: '10Mi', auditLogMaxFiles: '7' });
    assert.deepEqual(resolveConfig({ mode: 'server', cwd, flags }).server.auditLog, {
      path: '/home/me/checkout/logs/audit.log',
      maxBytes: 10 * 1024 * 1024,
      maxFiles: 7,
    });
    const env = settingsFromEnv({ OPENSCHEDULER_AUDIT_LOG_MAX_SIZE: '1000000', OPENSCHEDULER_AUDIT_LOG_MAX_FILES: '2' });
    assert.deepEqual(resolveConfig({ mode: 'server', cwd, env }).server.auditLog?.maxBytes, 1_000_000);
    const file = parseConfigFile('auditLogPath: audit.log\nauditLogMaxSize: 1Gi\nauditLogMaxFiles: 3\n', '/etc/openscheduler/config.yaml');
    assert.deepEqual(resolveConfig({ mode: 'server', cwd, file, configFile: '/etc/openscheduler/config.yaml' }).server.auditLog, {
      path: '/etc/openscheduler/audit.log',
      maxBytes: 1024 ** 3,
      maxFiles: 3,
    });
    assert.equal(parseConfigFile('auditLogMaxSize: 4096\n', 'c.yaml').auditLogMaxSize, 4096);
  });

  void it('refuses bad sizes and counts, naming the setting', () => {
    assert.throws(() => settingsFromFlags({ auditLogMaxSize: 'big' }), (err: unknown) => err instanceof ConfigError && /--audit-log-max-size: must be a size/.test(err.message));
    assert.throws(() => settingsFromFlags({ auditLogMaxSize: '0' }), /--audit-log-max-size/);
    assert.throws(() => settingsFromEnv({ OPENSCHEDULER_AUDIT_LOG_MAX_FILES: '0' }), /OPENSCHEDULER_AUDIT_LOG_MAX_FILES: must be an integer from 1 to 1000/);
    assert.throws(() => parseConfigFile('auditLogMaxSize: lots\n', 'c.yaml'), /auditLogMaxSize/);
    assert.throws(() => parseConfigFile('auditLogMaxFiles: 0\n', 'c.yaml'), /auditLogMaxFiles/);
  });
});
