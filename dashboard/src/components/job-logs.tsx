// The logs of a job: the latest attempt followed live (follow=true), or an earlier attempt read
// once. Text is appended to the <pre> directly (not through Preact state) in batches at most
// every FLUSH_MS and capped to the last MAX_LOG_CHARS, so a chatty job cannot exhaust the tab.
//
// Following the latest attempt: when its follow ends (the attempt is over) and the job starts
// another attempt (its watch shows status.attempts grew), the next attempt is followed, after a
// separator line. Unticking Follow aborts the stream and keeps what was read.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Api } from '../api.js';
import type { Job } from '../types.js';

/** Characters of log text kept (the oldest are dropped beyond it). */
export const MAX_LOG_CHARS = 2 * 1024 * 1024;
const FLUSH_MS = 100;
/** Adjacent text nodes are merged when the <pre> holds more than this many. */
const MAX_TEXT_NODES = 256;
/** Attempts offered in the select (the most recent ones). */
const MAX_ATTEMPT_OPTIONS = 100;

/** Appends text to a <pre> in batches and keeps at most MAX_LOG_CHARS of it. */
class LogSink {
  private pre: HTMLPreElement | null = null;
  private pending: string[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private length = 0;
  trimmed = false;

  constructor(private readonly onFlush: (length: number) => void) {}

  attach(pre: HTMLPreElement | null): void {
    this.pre = pre;
  }

  write(text: string): void {
    if (text === '') return;
    this.pending.push(text);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  get hasText(): boolean {
    return this.length > 0 || this.pending.length > 0;
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const text = this.pending.join('');
    this.pending = [];
    const pre = this.pre;
    if (pre === null || text === '') return;
    pre.appendChild(document.createTextNode(text));
    this.length += text.length;
    this.trim(pre);
    if (pre.childNodes.length > MAX_TEXT_NODES) pre.normalize();
    this.onFlush(this.length);
  }

  /** Stops a pending flush (the view is going away). */
  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
    if (this.pre !== null) this.pre.textContent = '';
    this.length = 0;
    this.trimmed = false;
    this.onFlush(0);
  }

  /** Drops the oldest text beyond MAX_LOG_CHARS, cutting after a newline where there is one. */
  private trim(pre: HTMLPreElement): void {
    while (this.length > MAX_LOG_CHARS && pre.firstChild !== null) {
      const node = pre.firstChild;
      const data = node.textContent ?? '';
      const excess = this.length - MAX_LOG_CHARS;
      this.trimmed = true;
      if (data.length <= excess) {
        pre.removeChild(node);
        this.length -= data.length;
        continue;
      }
      const newline = data.indexOf('\n', excess);
      const cut = newline >= 0 && newline < data.length - 1 ? newline + 1 : excess;
      node.textContent = data.slice(cut);
      this.length -= cut;
    }
  }
}

type LogStatus =
  | { readonly kind: 'idle' }
  | { readonly kind: 'waiting' }
  | { readonly kind: 'streaming'; readonly attempt: number; readonly following: boolean }
  | { readonly kind: 'waiting-next'; readonly attempt: number }
  | { readonly kind: 'ended'; readonly attempt: number }
  | { readonly kind: 'no-attempts' }
  | { readonly kind: 'not-found'; readonly attempt: number; readonly message: string }
  | { readonly kind: 'stopped'; readonly attempt: number | undefined }
  | { readonly kind: 'error'; readonly message: string };

function isTerminal(job: Job): boolean {
  const phase = job.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** The attempt is over: it has an end time, a later attempt exists, or the job finished. */
function attemptFinished(job: Job, attempt: number): boolean {
  const latest = job.status?.attempts ?? 0;
  if (attempt < latest) return true;
  if (job.status?.recentAttempts?.find((a) => a.attempt === attempt)?.endTime !== undefined) return true;
  return isTerminal(job);
}

function attemptLabel(job: Job, attempt: number, latest: number): string {
  const info = job.status?.recentAttempts?.find((a) => a.attempt === attempt);
  const parts = [`#${attempt}`];
  if (attempt === latest) parts.push('(latest)');
  if (info?.reason !== undefined) parts.push(`· ${info.reason}`);
  if (info?.exitCode !== undefined) parts.push(`· exit ${info.exitCode}`);
  return parts.join(' ');
}

export interface JobLogsProps {
  readonly api: Api;
  /** The job as last seen (live through the page's watch). */
  readonly job: Job;
  readonly deleted: boolean;
  /** The attempt asked for by the route; undefined (or the latest): the latest, followed. */
  readonly attempt: number | undefined;
  /** Asks for another attempt (undefined: the latest). */
  readonly onAttempt: (attempt: number | undefined) => void;
}

export function JobLogs({ api, job, deleted, attempt, onAttempt }: JobLogsProps) {
  const namespace = job.metadata.namespace ?? 'default';
  const name = job.metadata.name;
  const logPath = `/apis/openscheduler.io/v1/namespaces/${encodeURIComponent(namespace)}/jobs/${encodeURIComponent(name)}/log`;
  const latest = job.status?.attempts ?? 0;
  const pinned = attempt !== undefined && attempt >= 1 && attempt < latest ? attempt : undefined;
  const selection = pinned === undefined ? 'latest' : String(pinned);

  const [follow, setFollow] = useState(true);
  const [status, setStatus] = useState<LogStatus>({ kind: 'idle' });
  const [hasText, setHasText] = useState(false);
  const [trimmed, setTrimmed] = useState(false);
  const preRef = useRef<HTMLPreElement>(null);
  const followRef = useRef(follow);
  followRef.current = follow;

  const sinkRef = useRef<LogSink | undefined>(undefined);
  sinkRef.current ??= new LogSink((length) => {
    setHasText(length > 0);
    setTrimmed(sinkRef.current?.trimmed ?? false);
    const pre = preRef.current;
    if (pre !== null && followRef.current) pre.scrollTop = pre.scrollHeight;
  });
  const sink = sinkRef.current;
  useEffect(() => {
    sink.attach(preRef.current);
    return () => sink.dispose();
  }, [sink]);

  // The latest job for the running stream loop, and a way to wait for its next change.
  const jobRef = useRef({ job, deleted });
  jobRef.current = { job, deleted };
  const waiters = useRef<(() => void)[]>([]);
  useEffect(() => {
    const woken = waiters.current;
    waiters.current = [];
    for (const wake of woken) wake();
  }, [job, deleted]);

  const lastSelection = useRef<string | undefined>(undefined);
  useEffect(() => {
    const selectionChanged = lastSelection.current !== selection;
    lastSelection.current = selection;
    if (!follow && !selectionChanged) {
      // Follow was unticked: the previous run's stream was aborted; keep what was read.
      setStatus((s) => (s.kind === 'streaming' || s.kind === 'waiting' || s.kind === 'waiting-next' ? { kind: 'stopped', attempt: 'attempt' in s ? s.attempt : undefined } : s));
      return;
    }
    sink.clear();
    const controller = new AbortController();
    const { signal } = controller;

    const jobChanged = (): Promise<void> =>
      new Promise((resolve) => {
        waiters.current.push(resolve);
        signal.addEventListener('abort', () => resolve(), { once: true });
      });

    /** Streams one attempt; 'ended' when the server ended the body. */
    const stream = async (n: number, following: boolean): Promise<'ended' | 'not-found' | 'stop'> => {
      setStatus({ kind: 'streaming', attempt: n, following });
      try {
        await api.streamText(logPath, { attempt: n, follow: following ? 'true' : undefined }, (text) => sink.write(text), signal);
        sink.flush();
        return 'ended';
      } catch (err) {
        if (signal.aborted) return 'stop';
        sink.flush();
        if (err instanceof ApiError && err.code === 404) {
          setStatus({ kind: 'not-found', attempt: n, message: err.message });
          return 'not-found';
        }
        setStatus({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
        return 'stop';
      }
    };

    const run = async (): Promise<void> => {
      if (pinned !== undefined) {
        if ((await stream(pinned, false)) === 'ended') setStatus({ kind: 'ended', attempt: pinned });
        return;
      }
      let shown = 0;
      let lastResult: 'ended' | 'not-found' = 'ended';
      for (;;) {
        // Wait until there is an attempt newer than the one shown (or nothing more will come).
        for (;;) {
          const current = jobRef.current;
          if ((current.job.status?.attempts ?? 0) > shown) break;
          if (!follow || current.deleted || isTerminal(current.job)) {
            if (shown === 0) setStatus({ kind: 'no-attempts' });
            else if (lastResult === 'ended') setStatus({ kind: 'ended', attempt: shown });
            return;
          }
          setStatus(shown === 0 ? { kind: 'waiting' } : { kind: 'waiting-next', attempt: shown });
          await jobChanged();
          if (signal.aborted) return;
        }
        const next = shown === 0 ? (jobRef.current.job.status?.attempts ?? 1) : shown + 1;
        if (shown !== 0 && sink.hasText) sink.write(`\n──── attempt ${next} ────\n`);
        const result = await stream(next, follow && !attemptFinished(jobRef.current.job, next));
        if (result === 'stop') return;
        lastResult = result;
        shown = next;
      }
    };
    void run();
    return () => controller.abort();
  }, [selection, follow]);

  const options: number[] = [];
  for (let n = latest; n >= 1 && options.length < MAX_ATTEMPT_OPTIONS; n--) options.push(n);
  const shownAttempt = pinned ?? ('attempt' in status && status.attempt !== undefined ? status.attempt : latest);

  return (
    <div class="job-logs">
      <div class="logs-toolbar">
        <label>
          Attempt
          <select
            data-testid="logs-attempt"
            value={latest === 0 ? '' : String(shownAttempt)}
            disabled={latest === 0}
            onChange={(e) => {
              const n = Number(e.currentTarget.value);
              onAttempt(n >= latest ? undefined : n);
            }}
          >
            {latest === 0 ? (
              <option value="">no attempts yet</option>
            ) : (
              options.map((n) => (
                <option key={n} value={String(n)}>
                  {attemptLabel(job, n, latest)}
                </option>
              ))
            )}
          </select>
        </label>
        <label title={pinned !== undefined ? 'An earlier attempt is over: there is nothing to follow' : 'Stream new output as it is written and keep the view scrolled to the bottom'}>
          <input type="checkbox" data-testid="logs-follow" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} />
          Follow
        </label>
        <LogStatusLine status={status} hasText={hasText} />
        {trimmed && <span class="muted">(older output dropped: showing the last {Math.round(MAX_LOG_CHARS / 1024 / 1024)} MiB)</span>}
      </div>
      <pre class="logs" data-testid="job-logs" ref={preRef} />
    </div>
  );
}

function LogStatusLine({ status, hasText }: { status: LogStatus; hasText: boolean }) {
  switch (status.kind) {
    case 'idle':
      return null;
    case 'waiting':
      return <span class="muted logs-status">Waiting for the first attempt to start…</span>;
    case 'streaming':
      return status.following ? (
        <span class="live logs-status">following attempt {status.attempt}</span>
      ) : (
        <span class="muted logs-status">Reading attempt {status.attempt}…</span>
      );
    case 'waiting-next':
      return <span class="muted logs-status">Attempt {status.attempt} is over; waiting for the next attempt…</span>;
    case 'ended':
      return <span class="muted logs-status">{hasText ? `End of attempt ${status.attempt}.` : `Attempt ${status.attempt} wrote no output.`}</span>;
    case 'no-attempts':
      return <span class="muted logs-status">No logs yet: the job has not started an attempt.</span>;
    case 'not-found':
      return <span class="muted logs-status" data-testid="logs-missing">No logs yet for attempt {status.attempt}: {status.message}</span>;
    case 'stopped':
      return <span class="muted logs-status">Not following{status.attempt !== undefined ? ` attempt ${status.attempt}` : ''}; tick Follow to stream again.</span>;
    case 'error':
      return (
        <span class="error logs-status" data-testid="error">
          {status.message}
        </span>
      );
  }
}
