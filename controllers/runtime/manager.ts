// The Manager owns every loop of the controller runtime (after controller-runtime's Manager):
// informers run always (a standby keeps warm caches), other runnables run once caches synced,
// and leader-only runnables (controllers) run only while this process holds leadership.
// stop() resolves only when every runnable, watch and timer has ended.
import { errorMessage, silentLogger, type Logger } from './logger.js';
import type { Informer } from './informer.js';
import type { LeaderElector } from './leader-election.js';
import type { Runnable } from './runnable.js';

export interface ManagerOptions {
  /** Absent: this process always leads (single server). */
  readonly leaderElector?: LeaderElector;
  readonly logger?: Logger;
}

export interface AddOptions {
  /** Run only while leading. Default false. */
  readonly leaderOnly?: boolean;
  /** Name in log lines. */
  readonly name?: string;
}

interface Entry {
  readonly runnable: Runnable;
  readonly name: string;
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export class Manager {
  private readonly leaderElector: LeaderElector | undefined;
  private readonly logger: Logger;
  private readonly informers: Informer<unknown>[] = [];
  private readonly always: Entry[] = [];
  private readonly leaderOnly: Entry[] = [];
  private readonly abort = new AbortController();
  private readonly running: Promise<void>[] = [];
  private state: State = 'new';
  private leading = false;

  constructor(options: ManagerOptions = {}) {
    this.leaderElector = options.leaderElector;
    this.logger = options.logger ?? silentLogger;
  }

  /** Registers an informer: it runs from start() on and start() waits for its cache. */
  addInformer<T>(informer: Informer<T>): void {
    this.checkNew('addInformer');
    this.informers.push(informer as Informer<unknown>);
  }

  /** Registers a runnable (a Controller: pass leaderOnly: true). */
  add(runnable: Runnable, options: AddOptions = {}): void {
    this.checkNew('add');
    const entry = { runnable, name: options.name ?? (hasName(runnable) ? runnable.name : 'runnable') };
    (options.leaderOnly === true ? this.leaderOnly : this.always).push(entry);
  }

  /** True while leader-only runnables may run (always true without leader election, once started). */
  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Starts the informers, waits until every cache synced, then starts the other runnables and
   * the election. Resolves once caches synced; rejects (after stopping everything) if stop() came first.
   */
  async start(): Promise<void> {
    this.checkNew('start');
    this.state = 'starting';
    const signal = this.abort.signal;
    for (const informer of this.informers) this.spawn(`informer`, (s) => informer.run(s), signal);
    for (const informer of this.informers) {
      if (!(await informer.waitForSync(signal))) throw new Error('manager: stopped before caches synced');
    }
    for (const entry of this.always) this.spawn(entry.name, (s) => entry.runnable.run(s), signal);
    if (this.leaderElector) {
      const elector = this.leaderElector;
      this.spawn('leader-election', (s) => elector.run(s, (leaderSignal) => this.lead(leaderSignal)), signal);
    } else {
      this.spawn('leader', (s) => this.lead(s), signal);
    }
    this.state = 'running';
  }

  /** Stops everything; resolves when every runnable has returned. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    this.abort.abort();
    await Promise.all(this.running);
    this.state = 'stopped';
  }

  /** Runs the leader-only runnables until `signal` aborts (leadership lost or stop()). */
  private async lead(signal: AbortSignal): Promise<void> {
    this.leading = true;
    this.logger.info('manager: starting leader-only runnables', { count: this.leaderOnly.length });
    try {
      await Promise.all(this.leaderOnly.map((entry) => guard(this.logger, entry.name, () => entry.runnable.run(signal))));
    } finally {
      this.leading = false;
    }
  }

  private spawn(name: string, run: (signal: AbortSignal) => Promise<void>, signal: AbortSignal): void {
    this.running.push(guard(this.logger, name, () => run(signal)));
  }

  private checkNew(method: string): void {
    if (this.state !== 'new') throw new Error(`manager.${method}: the manager was already started`);
  }
}

/** Runs `fn`, logging (not propagating) a failure, so one broken runnable cannot hang stop(). */
async function guard(logger: Logger, name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    logger.error('manager: runnable failed', { runnable: name, error: errorMessage(err) });
  }
}

function hasName(value: object): value is { name: string } {
  return typeof (value as { name?: unknown }).name === 'string';
}
