// The Node schema (openscheduler.io/v1, cluster-scoped), written once; see job-schema.ts.
import { conditionSchema, DNS1123_LABEL, quantitySchema, timestampSchema, type JSONSchemaProps } from '../schema.js';

const nodeResourcesSchema = (description: string): JSONSchemaProps => ({
  type: 'object',
  title: 'NodeResources',
  description,
  properties: {
    cpu: quantitySchema('CPU cores, a quantity ("4", "3500m").'),
    memory: quantitySchema('Memory in bytes, a quantity ("16Gi").'),
  },
});

export const nodeSpecSchema: JSONSchemaProps = {
  type: 'object',
  title: 'NodeSpec',
  default: {},
  description: 'Desired state of the node.',
  properties: {
    unschedulable: {
      type: 'boolean',
      description: 'When true, no new jobs are placed on the node (running jobs continue).',
    },
  },
};

export const nodeStatusSchema: JSONSchemaProps = {
  type: 'object',
  title: 'NodeStatus',
  description: 'Observed state of the node, reported by its agent.',
  properties: {
    capacity: nodeResourcesSchema('Total resources of the node.'),
    allocatable: nodeResourcesSchema('Resources available to jobs (capacity minus reserved).'),
    drivers: {
      type: 'array',
      maxItems: 16,
      description: 'Task drivers available on the node, e.g. process, podman, incus.',
      items: { type: 'string', maxLength: 63, pattern: DNS1123_LABEL },
    },
    conditions: {
      type: 'array',
      maxItems: 32,
      description: 'Current conditions; Ready tells whether the agent holds its lease.',
      items: conditionSchema,
    },
    lastHeartbeatTime: timestampSchema('When the agent last renewed its lease.'),
    addresses: {
      type: 'array',
      maxItems: 16,
      description: 'Addresses of the node.',
      items: {
        type: 'object',
        title: 'NodeAddress',
        required: ['type', 'address'],
        properties: {
          type: { type: 'string', maxLength: 63, description: 'Hostname, InternalIP or ExternalIP.' },
          address: { type: 'string', maxLength: 253, description: 'The address.' },
        },
      },
    },
    agentVersion: { type: 'string', maxLength: 64, description: 'Version of the node agent.' },
  },
};

/** The whole Node object, as published in the CRD. */
export const nodeSchema: JSONSchemaProps = {
  type: 'object',
  title: 'Node',
  description: 'A machine that runs jobs; registered and kept alive by its agent.',
  required: ['apiVersion', 'kind', 'metadata'],
  properties: {
    apiVersion: { type: 'string', description: 'openscheduler.io/v1' },
    kind: { type: 'string', description: 'Node' },
    metadata: { type: 'object', description: 'Standard object metadata.' },
    spec: nodeSpecSchema,
    status: nodeStatusSchema,
  },
};
