// The node agent's Prometheus metrics: its own Registry (never the global default one) with
// Node's process metrics and the `openscheduler_agent_*` families, all read at scrape time from
// the agent's status snapshot (agent/agent.ts Agent.status()), so the agent keeps no metrics
// library state of its own. Counters follow the snapshot's running totals.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { AgentStatus } from '../agent/agent.js';
import type { MetricsExposition } from '../apiserver/api-metrics.js';

export interface AgentMetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC). Default true. */
  readonly processMetrics?: boolean;
}

export class AgentMetrics implements MetricsExposition {
  readonly registry = new Registry();
  readonly contentType: string = this.registry.contentType;

  /** `status` is called once per family at each scrape. */
  constructor(status: () => AgentStatus, options: AgentMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'openscheduler_agent_tasks_running',
      help: 'Tasks running (or being stopped) on this node, by driver.',
      labelNames: ['driver'],
      registers,
      collect() {
        this.reset();
        for (const [driver, count] of Object.entries(status().tasksRunning)) this.set({ driver }, count);
      },
    });
    new Counter({
      name: 'openscheduler_agent_task_starts_total',
      help: 'Task starts by driver and result (started, failed).',
      labelNames: ['driver', 'result'],
      registers,
      collect() {
        this.reset();
        for (const { driver, result, count } of status().taskStarts) this.inc({ driver, result }, count);
      },
    });
    new Gauge({
      name: 'openscheduler_agent_connected',
      help: '1 while the agent is registered and its last heartbeat to the control plane succeeded, else 0.',
      registers,
      collect() {
        this.set(status().connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'openscheduler_agent_driver_healthy',
      help: '1 when the driver passed its last fingerprint (and is advertised), else 0.',
      labelNames: ['driver'],
      registers,
      collect() {
        this.reset();
        for (const { name, healthy } of status().drivers) this.set({ driver: name }, healthy ? 1 : 0);
      },
    });
    new Counter({
      name: 'openscheduler_agent_log_bytes_shipped_total',
      help: 'Task log bytes the control plane acknowledged.',
      registers,
      collect() {
        this.reset();
        this.inc(status().logBytesShipped);
      },
    });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
