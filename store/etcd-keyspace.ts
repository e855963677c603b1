// How the etcd store lays out its keys: every user key K is stored as `${prefix}/K`, so
// callers see unprefixed keys; the store's own bookkeeping lives just outside that range
// (`${prefix}\0...`), invisible to every list and watch.
import type { IKeyValue } from 'etcd3';
import type { KeyValue } from './store.js';

export class EtcdKeyspace {
  /** `${prefix}/`: the first bytes of every stored user key. */
  readonly root: Buffer;
  /** Where the store records its last compaction revision. */
  readonly compactRevisionKey: Buffer;

  /** `prefix`: non-empty, no NUL; a trailing '/' is ignored. */
  constructor(prefix: string) {
    const trimmed = prefix.replace(/\/+$/, '');
    if (trimmed === '' || trimmed.includes('\0')) {
      throw new RangeError(`EtcdStore: option prefix must be a non-empty path without NUL, got ${JSON.stringify(prefix)}`);
    }
    this.root = Buffer.from(`${trimmed}/`);
    this.compactRevisionKey = Buffer.from(`${trimmed}\0compact-revision`);
  }

  key(key: string): Buffer {
    return Buffer.concat([this.root, Buffer.from(key)]);
  }

  /** The byte range [key, range_end) of the keys under `prefix` that sort after `after`. */
  range(prefix: string, after?: string): { key: Buffer; range_end: Buffer } {
    const start = this.key(prefix);
    const range_end = bytesPrefixEnd(start);
    if (after === undefined) return { key: start, range_end };
    const afterNext = Buffer.concat([this.key(after), Buffer.from([0])]);
    return { key: Buffer.compare(afterNext, start) > 0 ? afterNext : start, range_end };
  }

  toKeyValue(kv: IKeyValue): KeyValue {
    const result = {
      key: this.userKey(kv.key),
      value: kv.value.toString('utf8'),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
    };
    return kv.lease && kv.lease !== '0' ? { ...result, lease: kv.lease } : result;
  }

  userKey(stored: Buffer): string {
    return stored.subarray(this.root.length).toString('utf8');
  }
}

/** The smallest byte string greater than every string starting with `prefix` (non-empty, not all 0xff). */
function bytesPrefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const byte = end[i] ?? 0xff;
    if (byte < 0xff) {
      end[i] = byte + 1;
      return end.subarray(0, i + 1);
    }
  }
  throw new RangeError('EtcdStore: a key prefix of only 0xff bytes has no end');
}
