// Group commit: callers that need "everything written so far is durable" share fsyncs.
//
// sync() resolves after a flush that started after the call. While a flush runs, every caller
// that arrives waits for the one next flush, so N concurrent writers cost at most two flushes,
// not N. A failed flush rejects exactly the callers it was meant to cover.
export class GroupCommit {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly flush: () => Promise<void>) {}

  sync(): Promise<void> {
    this.next ??= this.startAfterRunning();
    return this.next;
  }

  /** A flush is running or waiting to run. */
  get busy(): boolean {
    return this.running !== undefined || this.next !== undefined;
  }

  /** Resolves when no flush is running (errors are the callers' concern, not this one's). */
  async idle(): Promise<void> {
    while (this.running !== undefined || this.next !== undefined) {
      await Promise.allSettled([this.running, this.next]);
    }
  }

  private async startAfterRunning(): Promise<void> {
    // Always yield once, so that callers arriving in this same turn share the flush.
    await this.running?.catch(() => undefined);
    this.next = undefined;
    const flush = this.flush();
    this.running = flush;
    try {
      await flush;
    } finally {
      if (this.running === flush) this.running = undefined;
    }
  }
}
