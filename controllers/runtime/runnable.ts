// The one lifecycle every long-running part of the controller runtime follows.

/** Runs until `signal` aborts; the promise resolves only after every loop, timer and watch it started has ended. */
export interface Runnable {
  run(signal: AbortSignal): Promise<void>;
}
