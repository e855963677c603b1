// The metrics hook of the controller runtime: the runtime reports what it does through this
// interface and never imports a metrics library (metrics/server-metrics.ts implements it).

export interface ControllerMetrics {
  /** One reconcile of `controller` ended after `seconds`; ok is false when it threw (TerminalError too). */
  observeReconcile(controller: string, seconds: number, ok: boolean): void;
  /**
   * The work queue of `controller` exists from now on; `depth` answers how many keys wait in it
   * (read at scrape time). Call the returned function when the queue is gone.
   */
  registerQueue(controller: string, depth: () => number): () => void;
}
