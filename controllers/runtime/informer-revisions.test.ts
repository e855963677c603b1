// The informer's revision reporting (used by the agent endpoint's AssignmentHub): every handler
// call carries the revision the change was learned at, and onResync announces each list.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CompactedError } from '../../store/store.js';
import { Informer } from './informer.js';
import { ControlledStore, openTempStore, waitFor } from './test-support.js';

const decode = (value: string): { n: number } | undefined => {
  const parsed = JSON.parse(value) as { n?: unknown };
  return typeof parsed.n === 'number' ? { n: parsed.n } : undefined;
};

void describe('Informer revisions', { timeout: 30_000 }, () => {
  void it('passes watch revisions, list revisions after onResync, and the cache revision on replay', async () => {
    const temp = await openTempStore();
    const controlled = new ControlledStore(temp.store);
    const informer = new Informer<{ n: number }>({ store: controlled, prefix: '/x/', decode });
    const calls: string[] = [];
    informer.addHandlers({
      onResync: (revision) => calls.push(`resync ${revision}`),
      onAdd: (key, obj, revision) => calls.push(`add ${key} ${obj.n} @${revision}`),
      onUpdate: (key, _old, obj, revision) => calls.push(`update ${key} ${obj.n} @${revision}`),
      onDelete: (key, _obj, revision) => calls.push(`delete ${key} @${revision}`),
    });
    const abort = new AbortController();
    let running: Promise<void> | undefined;
    try {
      const a = await temp.store.put('/x/a', JSON.stringify({ n: 1 }));
      await temp.store.put('/other', 'unrelated');
      const listedAt = await temp.store.currentRevision();
      running = informer.run(abort.signal);
      await waitFor('the first list', () => informer.hasSynced());
      assert.deepEqual(calls, [`resync ${listedAt}`, `add /x/a 1 @${listedAt}`]);
      assert.ok(a.revision < listedAt);

      calls.length = 0;
      const b = await temp.store.put('/x/b', JSON.stringify({ n: 2 }));
      const a2 = await temp.store.put('/x/a', JSON.stringify({ n: 3 }));
      const gone = await temp.store.delete('/x/b');
      await waitFor('the watch', () => calls.length === 3);
      assert.deepEqual(calls, [`add /x/b 2 @${b.revision}`, `update /x/a 3 @${a2.revision}`, `delete /x/b @${gone?.revision}`]);

      const replay: string[] = [];
      informer.addHandlers({ onAdd: (key, _obj, revision) => replay.push(`${key} @${revision}`) })();
      assert.deepEqual(replay, [`/x/a @${informer.revision()}`]);

      // A relist over a filled cache: the differences carry the list's revision; a compacted watch relists again.
      abort.abort();
      await running;
      const c = await temp.store.put('/x/c', JSON.stringify({ n: 4 }));
      await temp.store.delete('/x/a');
      const relistAt = await temp.store.currentRevision();
      controlled.failWatches = 1;
      controlled.failWith = new CompactedError(1, 2);
      const again = new AbortController();
      calls.length = 0;
      running = informer.run(again.signal);
      await waitFor('the list and the relist after the compacted watch', () => calls.filter((line) => line.startsWith('resync')).length === 2);
      again.abort();
      await running;
      assert.ok(c.revision < relistAt);
      assert.deepEqual(calls, [`resync ${relistAt}`, `delete /x/a @${relistAt}`, `add /x/c 4 @${relistAt}`, `resync ${relistAt}`]);
    } finally {
      controlled.open();
      abort.abort();
      await running;
      await temp.cleanup();
    }
  });
});
