// BOOKMARKs on a watch from resourceVersion=0 come only after every initial ADDED: a client that
// resumes from a bookmark's resourceVersion must not miss an object the stream had not sent yet.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jobKind } from '../api/v1/index.js';
import { TestServer, WatchReader, jobManifest } from './api-test-harness.js';
import { ObjectStorage } from './object-storage.js';
import { ResourceWriter } from './resource-writer.js';

void describe('watch bookmarks', () => {
  let s: TestServer;
  before(async () => {
    s = await TestServer.start({ watchBookmarkIntervalMs: 5 });
  });
  after(async () => {
    await s.close();
  });

  void it('sends no BOOKMARK before the last initial ADDED of a slow reader', async () => {
    const writer = new ResourceWriter(new ObjectStorage(s.store, jobKind), () => new Date());
    const count = 300;
    const big = 'x'.repeat(60_000); // ~18 MB of initial events: more than the socket buffers hold
    for (let i = 0; i < count; i++) {
      await writer.create(jobManifest(`b-${String(i).padStart(4, '0')}`, { spec: { args: [big] } }), 'bulk', false);
    }
    const w = await WatchReader.open(s, '/apis/openscheduler.io/v1/namespaces/bulk/jobs?watch=true&resourceVersion=0&allowWatchBookmarks=true');
    try {
      await new Promise((resolve) => setTimeout(resolve, 500)); // not reading: the server waits for 'drain'
      const events = await w.waitFor(count, 30_000);
      const types = events.slice(0, count).map((e) => e.type);
      assert.deepEqual(
        types.filter((t) => t !== 'ADDED'),
        [],
        `the first ${count} events are the initial ADDEDs; got a bookmark after ${types.indexOf('BOOKMARK')} of them`,
      );
    } finally {
      w.close();
    }
  });
});
