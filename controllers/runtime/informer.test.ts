import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StoreUnavailableError } from '../../store/store.js';
import { Informer, type InformerHandlers } from './informer.js';
import { ControlledStore, openTempStore, waitFor, type TempStore } from './test-support.js';

interface Obj {
  name: string;
  n: number;
  nested: { tags: string[] };
}

const decode = (value: string): Obj | undefined => {
  const parsed = JSON.parse(value) as Partial<Obj>;
  return typeof parsed.name === 'string' ? (parsed as Obj) : undefined;
};
const encode = (name: string, n: number): string => JSON.stringify({ name, n, nested: { tags: [String(n)] } });

/** Replays handler events into a map, checking each event against the model it updates. */
function recorder(): { model: Map<string, Obj>; events: string[]; handlers: InformerHandlers<Obj> } {
  const model = new Map<string, Obj>();
  const events: string[] = [];
  return {
    model,
    events,
    handlers: {
      onAdd(key, obj) {
        assert.ok(!model.has(key), `add of a known key ${key}`);
        model.set(key, obj);
        events.push(`add ${key} ${obj.n}`);
      },
      onUpdate(key, oldObj, newObj) {
        assert.equal(model.get(key), oldObj, `update of ${key} carries the previous object`);
        model.set(key, newObj);
        events.push(`update ${key} ${newObj.n}`);
      },
      onDelete(key, obj) {
        assert.equal(model.get(key), obj, `delete of ${key} carries the last object`);
        model.delete(key);
        events.push(`delete ${key} ${obj.n}`);
      },
    },
  };
}

async function storeState(t: TempStore, prefix: string): Promise<Map<string, number>> {
  const { items } = await t.store.list(prefix);
  return new Map(items.map((kv) => [kv.key, (JSON.parse(kv.value) as Obj).n]));
}

function modelState(model: Map<string, Obj>): Map<string, number> {
  return new Map([...model].map(([k, v]) => [k, v.n]));
}

void describe('Informer', () => {
  let t: TempStore;
  before(async () => {
    t = await openTempStore();
  });
  after(async () => {
    await t.cleanup();
  });

  void it('lists in pages, syncs, and keeps a frozen cache', async () => {
    for (let i = 0; i < 7; i++) await t.store.put(`/a/k${i}`, encode(`k${i}`, i));
    await t.store.put('/b/other', encode('other', 99));
    await t.store.put('/a/junk', '{"no":"name"}');
    const informer = new Informer<Obj>({ store: t.store, prefix: '/a/', decode, pageSize: 2 });
    const rec = recorder();
    informer.addHandlers(rec.handlers);
    const abort = new AbortController();
    assert.equal(informer.hasSynced(), false);
    const running = informer.run(abort.signal);
    assert.equal(await informer.waitForSync(abort.signal), true);
    assert.equal(informer.keys().length, 7, 'undecodable and foreign keys are not cached');
    assert.deepEqual(modelState(rec.model), await storeState(t, '/a/k'));
    const cached = informer.get('/a/k3');
    assert.ok(cached);
    assert.throws(() => {
      cached.n = 42;
    }, TypeError);
    assert.throws(() => {
      cached.nested.tags.push('x');
    }, TypeError);
    await assert.rejects(informer.run(abort.signal), /already running/);
    abort.abort();
    await running;
    assert.equal(await informer.waitForSync(new AbortController().signal), true);
  });

  void it('handlers added later get adds for cached objects; a throwing handler is not fatal', async () => {
    const informer = new Informer<Obj>({ store: t.store, prefix: '/late/', decode });
    await t.store.put('/late/x', encode('x', 1));
    informer.addHandlers({
      onAdd() {
        throw new Error('boom');
      },
    });
    const abort = new AbortController();
    const running = informer.run(abort.signal);
    await informer.waitForSync(abort.signal);
    const rec = recorder();
    informer.addHandlers(rec.handlers);
    assert.deepEqual(rec.events, ['add /late/x 1']);
    await t.store.put('/late/y', encode('y', 2));
    await waitFor('the add of y', () => rec.model.has('/late/y'));
    abort.abort();
    await running;
  });

  void it('converges on the store under concurrent writes', async () => {
    const prefix = '/c/';
    for (let i = 0; i < 20; i++) await t.store.put(`${prefix}k${i}`, encode(`k${i}`, 0));
    const informer = new Informer<Obj>({ store: t.store, prefix, decode, pageSize: 7 });
    const rec = recorder();
    informer.addHandlers(rec.handlers);
    const abort = new AbortController();
    // Writes race with the list and the watch start.
    const writer = (async () => {
      for (let i = 1; i <= 300; i++) {
        const key = `${prefix}k${(i * 7) % 30}`;
        if (i % 5 === 0) await t.store.delete(key);
        else await t.store.put(key, encode(key, i));
      }
    })();
    const running = informer.run(abort.signal);
    await writer;
    const current = await t.store.currentRevision();
    await waitFor('the informer to catch up', () => informer.revision() >= current);
    const expected = await storeState(t, prefix);
    assert.deepEqual(modelState(rec.model), expected);
    assert.deepEqual(new Map(informer.keys().map((k) => [k, informer.get(k)?.n])), expected);
    for (const key of informer.keys()) {
      assert.equal(informer.getEntry(key)?.revision, (await t.store.get(key))?.modRevision);
    }
    abort.abort();
    await running;
  });

  void it('relists after a compacted watch and emits exactly the missed changes', async () => {
    const prefix = '/d/';
    await t.store.put(`${prefix}keep`, encode('keep', 1));
    await t.store.put(`${prefix}change`, encode('change', 1));
    await t.store.put(`${prefix}gone`, encode('gone', 1));
    const controlled = new ControlledStore(t.store);
    controlled.holdWatches();
    const informer = new Informer<Obj>({ store: controlled, prefix, decode, initialBackoffMs: 5 });
    const rec = recorder();
    informer.addHandlers(rec.handlers);
    const abort = new AbortController();
    const running = informer.run(abort.signal);
    await informer.waitForSync(abort.signal);
    rec.events.length = 0;
    // Missed while the watch is held: then history is compacted away.
    await t.store.put(`${prefix}change`, encode('change', 2));
    await t.store.put(`${prefix}gone-too`, encode('gone-too', 1));
    await t.store.delete(`${prefix}gone-too`);
    await t.store.delete(`${prefix}gone`);
    await t.store.put(`${prefix}new`, encode('new', 1));
    await t.store.compact(await t.store.currentRevision());
    controlled.open();
    await waitFor('the relist', () => rec.events.length >= 3);
    assert.deepEqual(rec.events.sort(), [`add ${prefix}new 1`, `delete ${prefix}gone 1`, `update ${prefix}change 2`]);
    assert.deepEqual(modelState(rec.model), await storeState(t, prefix));
    // The watch resumed after the relist: later changes still arrive.
    await t.store.put(`${prefix}after`, encode('after', 1));
    await waitFor('an event after the relist', () => rec.model.has(`${prefix}after`));
    assert.ok(controlled.watchCalls >= 2);
    abort.abort();
    await running;
  });

  void it('restarts the watch after a transient error without losing events', async () => {
    const prefix = '/e/';
    const controlled = new ControlledStore(t.store);
    controlled.failWatches = 2;
    controlled.failWith = new StoreUnavailableError('injected: store unreachable');
    const informer = new Informer<Obj>({ store: controlled, prefix, decode, initialBackoffMs: 5 });
    const rec = recorder();
    informer.addHandlers(rec.handlers);
    const abort = new AbortController();
    const running = informer.run(abort.signal);
    await informer.waitForSync(abort.signal);
    await t.store.put(`${prefix}a`, encode('a', 1));
    await t.store.put(`${prefix}a`, encode('a', 2));
    await waitFor('the events after retries', () => rec.model.get(`${prefix}a`)?.n === 2);
    assert.deepEqual(rec.events, [`add ${prefix}a 1`, `update ${prefix}a 2`]);
    assert.equal(controlled.watchCalls, 3);
    abort.abort();
    await running;
  });

  void it('rejects bad options naming the option', () => {
    assert.throws(() => new Informer<Obj>({ store: t.store, prefix: '', decode }), /option prefix must be a non-empty string/);
    assert.throws(() => new Informer<Obj>({ store: t.store, prefix: '/x/', decode, pageSize: 0 }), /option pageSize must be an integer >= 1/);
  });
});
