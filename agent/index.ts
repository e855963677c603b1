// The node agent's public surface, for the daemon's composition root (`openscheduler agent`).
export { Agent, AgentOptionsError, createAgent, type AgentOptions, type AgentStatus, type ShutdownMode } from './agent.js';
export { AgentStateDir } from './state-dir.js';
export { detectCapacity } from './node-info.js';
export { HollowDriver, type HollowDriverOptions } from './drivers/hollow-driver.js';
export { IncusDriver, type IncusDriverOptions } from './drivers/incus-driver.js';
export { PodmanDriver, type PodmanDriverOptions } from './drivers/podman-driver.js';
export { ProcessDriver, type ProcessDriverOptions } from './drivers/process-driver.js';
export type { OwnedTask, TaskDriver } from './drivers/task-driver.js';
