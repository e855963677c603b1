// The README's configuration section is generated from the settings tables and must be up to date.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../test/harness/bin.js';
import { AGENT_SETTINGS } from '../cmd/agent-config.js';
import { SETTINGS } from '../server/config.js';
import { BEGIN_MARKER, END_MARKER, renderConfigDocs, runConfigDocs, updateReadme } from './gen-config-docs.js';
import { quiet } from '../test/harness/logging.js';

/** Runs fn with console.log/error captured. */
void describe('gen-config-docs', () => {
  const temps: string[] = [];
  after(async () => {
    for (const t of temps) await rm(t, { recursive: true, force: true });
  });

  void it('the README configuration section is what the settings tables give (else: npm run codegen:config-docs)', async () => {
    const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
    assert.equal(updateReadme(readme), readme, 'README.md is out of date: run npm run codegen:config-docs');
  });

  void it('lists every setting of the server and the agent with its flag, variable and default', () => {
    const docs = renderConfigDocs();
    for (const spec of [...SETTINGS, ...AGENT_SETTINGS]) {
      if (spec.flag !== undefined) assert.ok(docs.includes(`\`--${spec.flag}`), spec.flag);
      if (spec.env !== undefined) assert.ok(docs.includes(`\`${spec.env}\``), spec.env);
      if (!spec.envOnly) assert.ok(docs.includes(`| \`${spec.key}\` |`), spec.key);
    }
    assert.match(docs, /\| `httpPort` \| `--http-port N` \| `OPENSCHEDULER_HTTP_PORT` \| `8080` \|/);
    assert.match(docs, /\| `orphanSweepInterval` \| `--orphan-sweep-interval DUR` \| `OPENSCHEDULER_AGENT_ORPHAN_SWEEP_INTERVAL` \| `30s` \|/);
  });

  void it('--check fails on a stale section and a run rewrites only the section', async () => {
    const root = await mkdtemp(join(tmpdir(), 'config-docs-'));
    temps.push(root);
    const stale = `# Title\n\nbefore\n\n${BEGIN_MARKER}\n| old | table |\n${END_MARKER}\n\nafter\n`;
    await writeFile(join(root, 'README.md'), stale);
    const check = quiet(() => runConfigDocs(root, true));
    assert.equal(check.result, 1);
    assert.match(check.output, /configuration section is out of date; run npm run codegen:config-docs/);
    assert.equal(await readFile(join(root, 'README.md'), 'utf8'), stale, '--check writes nothing');

    assert.equal(quiet(() => runConfigDocs(root, false)).result, 0);
    const written = await readFile(join(root, 'README.md'), 'utf8');
    assert.equal(written, `# Title\n\nbefore\n\n${renderConfigDocs()}\n\nafter\n`);
    assert.equal(quiet(() => runConfigDocs(root, true)).result, 0);

    assert.throws(() => updateReadme('# no markers\n'), /no <!-- config:begin --> \.\.\. <!-- config:end --> section/);
  });
});
