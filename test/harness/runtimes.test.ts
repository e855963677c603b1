// Smoke test: this machine has podman and incus set up as the driver tests need them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { containersConf, requireIncus, requirePodman } from './runtimes.js';

void describe('test runtimes', () => {
  void it('the project containers.conf is an absolute path that exists', () => {
    assert.ok(isAbsolute(containersConf()) && existsSync(containersConf()), containersConf());
  });
  void it('podman is usable with the test image', async () => {
    await requirePodman();
  });
  void it('incus is usable with the test image', async () => {
    await requireIncus();
  });
});
