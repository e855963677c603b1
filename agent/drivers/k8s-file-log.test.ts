import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { K8sFileLogReader, parseK8sLogLine, readK8sLogHead } from './k8s-file-log.js';
import type { TaskLogSink } from './task-driver.js';

const TS = '2026-12-05T01:23:27.781646051+00:00';

/** Records every sink call, in order. */
class Recorder implements TaskLogSink {
  readonly calls: Array<['out' | 'err', string]> = [];
  onStdout(chunk: Buffer): void {
    this.calls.push(['out', chunk.toString('latin1')]);
  }
  onStderr(chunk: Buffer): void {
    this.calls.push(['err', chunk.toString('latin1')]);
  }
  text(stream: 'out' | 'err'): string {
    return this.calls
      .filter(([s]) => s === stream)
      .map(([, t]) => t)
      .join('');
  }
}

void describe('parseK8sLogLine', () => {
  void it('reads full and partial records of both streams, content kept byte for byte', () => {
    assert.deepEqual(parseK8sLogLine(Buffer.from(`${TS} stdout F hello world`)), { stream: 'stdout', partial: false, content: Buffer.from('hello world') });
    assert.deepEqual(parseK8sLogLine(Buffer.from(`${TS} stderr P  two  spaces `)), { stream: 'stderr', partial: true, content: Buffer.from(' two  spaces ') });
    const binary = Buffer.concat([Buffer.from(`${TS} stdout F `), Buffer.from([0, 0xff, 0x0d, 0x09])]);
    assert.deepEqual(parseK8sLogLine(binary)?.content, Buffer.from([0, 0xff, 0x0d, 0x09]));
  });

  void it('reads an empty content, with or without its separator, and a tag with more after a colon', () => {
    assert.deepEqual(parseK8sLogLine(Buffer.from(`${TS} stdout F `))?.content, Buffer.alloc(0));
    assert.deepEqual(parseK8sLogLine(Buffer.from(`${TS} stdout F`))?.content, Buffer.alloc(0));
    assert.equal(parseK8sLogLine(Buffer.from(`${TS} stdout P:x y`))?.partial, true);
  });

  void it('skips what is not a record', () => {
    for (const line of ['', 'garbage', `${TS} stdin F x`, `${TS} stdout X x`, `${TS}`]) assert.equal(parseK8sLogLine(Buffer.from(line)), undefined, line);
  });
});

void describe('K8sFileLogReader', () => {
  let dir = '';
  let n = 0;
  const newLog = (): string => join(dir, `log-${n++}`);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'k8s-file-log-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  void it('delivers F with a newline and P without, in order, stdout and stderr interleaved', () => {
    const path = newLog();
    writeFileSync(path, [`${TS} stdout F one`, `${TS} stderr F err`, `${TS} stdout P par`, `${TS} stdout F tial`, `${TS} stdout P no-newline`, ''].join('\n'));
    const sink = new Recorder();
    const reader = new K8sFileLogReader(path, sink);
    assert.equal(reader.drain(), true);
    assert.deepEqual(sink.calls, [
      ['out', 'one\n'],
      ['err', 'err\n'],
      ['out', 'partial\nno-newline'],
    ]);
    assert.deepEqual(reader.position, { stdout: 4 + 8 + 10, stderr: 4 });
    assert.equal(reader.drain(), false, 'nothing new');
  });

  void it('follows a growing file, a record split between two writes included', () => {
    const path = newLog();
    const sink = new Recorder();
    const reader = new K8sFileLogReader(path, sink);
    assert.equal(reader.drain(), false, 'no file yet');
    writeFileSync(path, `${TS} stdout F first\n${TS} std`);
    reader.drain();
    assert.equal(sink.text('out'), 'first\n');
    appendFileSync(path, `out F second\n`);
    reader.drain();
    assert.equal(sink.text('out'), 'first\nsecond\n');
  });

  void it('resumes from byte offsets of each stream, also in the middle of a record', () => {
    const path = newLog();
    writeFileSync(path, [`${TS} stdout F abc`, `${TS} stderr F xyz`, `${TS} stdout P def`, `${TS} stderr F last`, ''].join('\n'));
    const whole = new Recorder();
    const first = new K8sFileLogReader(path, whole);
    first.drain();
    const sink = new Recorder();
    new K8sFileLogReader(path, sink, { stdout: 2, stderr: 4 }).drain();
    assert.equal(sink.text('out'), 'c\ndef');
    assert.equal(sink.text('err'), 'last\n');
    const none = new Recorder();
    new K8sFileLogReader(path, none, first.position).drain();
    assert.deepEqual(none.calls, [], 'from the end: nothing again');
  });

  void it('keeps counting without a sink, and reads the head of a stream', () => {
    const path = newLog();
    writeFileSync(path, [`${TS} stdout F out`, `${TS} stderr F ERROR (catatonit:6): failed to exec pid1: No such file or directory`, ''].join('\n'));
    const reader = new K8sFileLogReader(path, undefined);
    reader.drain();
    assert.deepEqual(reader.position, { stdout: 4, stderr: 68 });
    assert.equal(readK8sLogHead(path, 'stderr', 12).toString(), 'ERROR (catat');
    assert.equal(readK8sLogHead(join(dir, 'absent'), 'stderr', 12).length, 0);
  });

  void it('starts over when the file is truncated (log_size_max)', () => {
    const path = newLog();
    const sink = new Recorder();
    const reader = new K8sFileLogReader(path, sink);
    writeFileSync(path, `${TS} stdout F before truncation\n`);
    reader.drain();
    writeFileSync(path, `${TS} stdout F after\n`);
    reader.drain();
    assert.equal(sink.text('out'), 'before truncation\nafter\n');
  });

  void it('handles a large log in chunks without losing or repeating bytes', () => {
    const path = newLog();
    const lines: string[] = [];
    let expected = '';
    for (let i = 0; i < 20_000; i++) {
      lines.push(`${TS} stdout F line ${i}`);
      expected += `line ${i}\n`;
    }
    writeFileSync(path, lines.join('\n') + '\n');
    const sink = new Recorder();
    new K8sFileLogReader(path, sink).drain();
    assert.equal(sink.text('out'), expected);
  });
});
