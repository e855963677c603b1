// Lists: consistent pagination under concurrent writes, continue-token expiry, selectors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jobKind } from '../api/v1/index.js';
import { JOBS, TestServer, jobManifest } from './api-test-harness.js';
import { ObjectStorage } from './object-storage.js';
import { ResourceWriter } from './resource-writer.js';

const PAGED = '/apis/openscheduler.io/v1/namespaces/paged/jobs';
const name = (i: number): string => `p-${String(i).padStart(5, '0')}`;
const names = (body: { items: { metadata: { name: string } }[] }): string[] => body.items.map((j) => j.metadata.name);

void describe('lists', () => {
  let s: TestServer;
  before(async () => {
    s = await TestServer.start();
  });
  after(async () => {
    await s.close();
  });

  void it('pages over 10,000 jobs, returning each exactly once while jobs are created and deleted', async () => {
    const writer = new ResourceWriter(new ObjectStorage(s.store, jobKind), () => new Date());
    const total = 10_000;
    await Promise.all(
      Array.from({ length: 32 }, async (_, worker) => {
        for (let i = worker; i < total; i += 32) await writer.create(jobManifest(name(i)), 'paged', false);
      }),
    );

    const first = await s.request('GET', `${PAGED}?limit=500`);
    assert.equal(first.status, 200);
    assert.equal(first.body.kind, 'JobList');
    assert.equal(first.body.apiVersion, 'openscheduler.io/v1');
    const snapshot = Number(first.body.metadata.resourceVersion);
    const seen = names(first.body);
    assert.equal(seen.length, 500);

    // Concurrent writers: new jobs whose keys fall between existing ones, and deletions of
    // existing jobs ahead of and behind the cursor.
    let stop = false;
    let created = 0;
    let deleted = 0;
    const churn = (async () => {
      for (let i = 0; !stop; i++) {
        const target = (i * 7919) % total;
        const res = await s.request('POST', PAGED, { body: jobManifest(`${name(target)}-new${i}`) });
        assert.equal(res.status, 201);
        created++;
        const del = await s.request('DELETE', `${PAGED}/${name((target + 5000) % total)}`);
        if (del.status === 200) deleted++;
      }
    })();

    let token: string | undefined = first.body.metadata.continue;
    let pages = 1;
    while (token !== undefined) {
      const page = await s.request('GET', `${PAGED}?limit=500&continue=${encodeURIComponent(token)}`);
      assert.equal(page.status, 200, page.text);
      assert.equal(Number(page.body.metadata.resourceVersion), snapshot, 'every page is read at the first revision');
      for (const item of page.body.items) assert.ok(Number(item.metadata.resourceVersion) <= snapshot);
      seen.push(...names(page.body));
      token = page.body.metadata.continue;
      pages++;
      await new Promise((resolve) => setTimeout(resolve, 5)); // let the writers interleave
    }
    stop = true;
    await churn;

    assert.equal(pages, 20);
    assert.ok(created > 0 && deleted > 0, `writes happened during paging (${created} created, ${deleted} deleted)`);
    assert.equal(seen.length, total, 'no duplicates, nothing missing');
    assert.equal(new Set(seen).size, total);
    assert.deepEqual(seen, Array.from({ length: total }, (_, i) => name(i)), 'each original job once, in key order');

    const now = await s.request('GET', PAGED);
    assert.equal(now.body.items.length, total + created - deleted, 'an unlimited list returns everything');
    assert.equal(now.body.metadata.continue, undefined);
  });

  void it('answers 410 Expired for a continue token whose revision was compacted, 400 for a malformed one', async () => {
    const ns = '/apis/openscheduler.io/v1/namespaces/expire/jobs';
    for (const n of ['e1', 'e2', 'e3']) await s.request('POST', ns, { body: jobManifest(n) });
    const first = await s.request('GET', `${ns}?limit=1`);
    const token = first.body.metadata.continue;
    assert.ok(token);
    await s.request('POST', ns, { body: jobManifest('e4') });
    await s.store.compact(await s.store.currentRevision());
    const expired = await s.request('GET', `${ns}?limit=1&continue=${encodeURIComponent(token)}`);
    assert.equal(expired.status, 410);
    assert.equal(expired.body.kind, 'Status');
    assert.equal(expired.body.reason, 'Expired');
    assert.match(expired.body.message, /new list/);
    for (const bad of ['garbage!', 'eyJ2IjoxfQ', Buffer.from(JSON.stringify({ v: 1, rv: 5, key: '/registry/other/' })).toString('base64url')]) {
      const res = await s.request('GET', `${ns}?limit=1&continue=${encodeURIComponent(bad)}`);
      assert.equal(res.status, 400, bad);
      assert.match(res.body.message, /continue/);
    }
    // A well-formed token from the future (forged, or from another store) is a client error, not a 500.
    const future = Buffer.from(JSON.stringify({ v: 1, rv: 99_999_999, key: '/registry/openscheduler.io/jobs/expire/e1' })).toString('base64url');
    const res = await s.request('GET', `${ns}?limit=1&continue=${future}`);
    assert.equal(res.status, 400);
    assert.match(res.body.message, /newer than the current revision/);
  });

  void it('filters by label and field selectors, also across pages and namespaces', async () => {
    const ns = '/apis/openscheduler.io/v1/namespaces/sel/jobs';
    for (let i = 0; i < 30; i++) {
      await s.request('POST', ns, { body: jobManifest(`s-${String(i).padStart(2, '0')}`, { labels: { parity: i % 2 === 0 ? 'even' : 'odd', ...(i % 3 === 0 ? { three: 'yes' } : {}) } }) });
    }
    await s.request('PUT', `${ns}/s-05/status`, { body: { ...jobManifest('s-05'), status: { phase: 'Running', attempts: 1 } } });

    const even = await s.request('GET', `${ns}?labelSelector=${encodeURIComponent('parity=even,three')}`);
    assert.deepEqual(names(even.body), ['s-00', 's-06', 's-12', 's-18', 's-24']);
    const notIn = await s.request('GET', `${ns}?labelSelector=${encodeURIComponent('parity notin (even),!three')}`);
    assert.equal(notIn.body.items.length, 10);

    const running = await s.request('GET', `${ns}?fieldSelector=status.phase%3DRunning`);
    assert.deepEqual(names(running.body), ['s-05']);
    const byName = await s.request('GET', `${ns}?fieldSelector=metadata.name%3Ds-07`);
    assert.deepEqual(names(byName.body), ['s-07']);
    assert.equal((await s.request('GET', `${ns}?fieldSelector=metadata.name%3Ds-0`)).body.items.length, 0, 'exact name only');
    const notPending = await s.request('GET', `/apis/openscheduler.io/v1/jobs?fieldSelector=${encodeURIComponent('status.phase!=Pending,metadata.namespace=sel')}`);
    assert.deepEqual(names(notPending.body), ['s-05']);

    // Paging with a selector returns only matches and continues where it stopped.
    const collected: string[] = [];
    let token: string | undefined;
    do {
      const page = await s.request('GET', `${ns}?limit=4&labelSelector=parity%3Dodd${token ? `&continue=${encodeURIComponent(token)}` : ''}`);
      assert.ok(page.body.items.length <= 4);
      collected.push(...names(page.body));
      token = page.body.metadata.continue;
    } while (token);
    assert.deepEqual(collected, Array.from({ length: 15 }, (_, i) => `s-${String(i * 2 + 1).padStart(2, '0')}`));

    const unknown = await s.request('GET', `${ns}?fieldSelector=spec.bogus%3Dx`);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.message, 'field label not supported: spec.bogus');
    const badLabel = await s.request('GET', `${ns}?labelSelector=${encodeURIComponent('a in (b')}`);
    assert.equal(badLabel.status, 400);
    assert.match(badLabel.body.message, /labelSelector "a in \(b"/);
    assert.equal((await s.request('GET', `${ns}?limit=-1`)).status, 400);
  });

  void it('lists every namespace at /apis/openscheduler.io/v1/jobs', async () => {
    await s.request('POST', '/apis/openscheduler.io/v1/namespaces/all-a/jobs', { body: jobManifest('same') });
    await s.request('POST', '/apis/openscheduler.io/v1/namespaces/all-b/jobs', { body: jobManifest('same') });
    const all = await s.request('GET', '/apis/openscheduler.io/v1/jobs?fieldSelector=metadata.name%3Dsame');
    assert.deepEqual(all.body.items.map((j: { metadata: { namespace: string } }) => j.metadata.namespace), ['all-a', 'all-b']);
    const one = await s.request('GET', `${JOBS}?fieldSelector=metadata.name%3Dsame`);
    assert.equal(one.body.items.length, 0);
  });
});
