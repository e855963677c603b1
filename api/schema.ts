// The schema dialect every kind is written in: the OpenAPI v3 subset a Kubernetes CRD uses
// (apiextensions.k8s.io/v1 JSONSchemaProps). From one such schema we derive the TypeScript
// types (hack/codegen.ts), ajv validation and defaulting (api/schema-validator.ts), the
// CRD manifests (api/crd.ts) and the OpenAPI v2 document (api/openapi.ts).
//
// Conventions (as in a structural CRD schema):
// - An object with `properties` is closed: unknown fields are rejected by validation.
//   (`additionalProperties: false` is not written; CRDs forbid it next to `properties`.)
// - A map is `{type: object, additionalProperties: <value schema>}`.
// - A free-form object is `{type: object, x-kubernetes-preserve-unknown-fields: true}`.
// - `title` names the TypeScript type generated for the node (objects and string enums).
// - `x-kubernetes-int-or-string` fields accept an integer or a string (e.g. quantities).

export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  title?: string;
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  items?: JSONSchemaProps;
  enum?: Array<string | number>;
  default?: unknown;
  format?: 'date-time';
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  nullable?: boolean;
  anyOf?: JSONSchemaProps[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/** Regular expressions shared by schemas and code, with the name used in error messages. */
export const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A generateName prefix: a DNS-1123 label that may end with '-' (5 random characters follow). */
export const DNS1123_LABEL_PREFIX = '^[a-z0-9][-a-z0-9]*$';
export const DNS1123_SUBDOMAIN_PREFIX = '^[a-z0-9][-a-z0-9.]*$';
export const ENV_VAR_NAME = '^[A-Za-z_][A-Za-z0-9_]*$';

/** Human names of the shared patterns, appended to "must match <pattern>" messages. */
export const PATTERN_NAMES: Readonly<Record<string, string>> = {
  [DNS1123_LABEL]: 'a DNS-1123 label',
  [DNS1123_SUBDOMAIN]: 'a DNS-1123 subdomain',
  [DNS1123_LABEL_PREFIX]: 'a DNS-1123 label prefix',
  [DNS1123_SUBDOMAIN_PREFIX]: 'a DNS-1123 subdomain prefix',
  [ENV_VAR_NAME]: 'an environment variable name',
};

/** An RFC 3339 timestamp (`format: date-time`); nullable as Kubernetes' `creationTimestamp: null`. */
export function timestampSchema(description?: string, nullable = false): JSONSchemaProps {
  const s: JSONSchemaProps = { type: 'string', format: 'date-time' };
  if (nullable) s.nullable = true;
  if (description) s.description = description;
  return s;
}

/** A resource quantity: an integer or a string such as "500m" or "128Mi" (checked by api/quantity.ts). */
export function quantitySchema(description: string): JSONSchemaProps {
  return {
    title: 'Quantity',
    description,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    'x-kubernetes-int-or-string': true,
    maxLength: 64,
  };
}

/** A string→string map such as labels or nodeSelector (key and value rules are checked in code). */
export function stringMapSchema(description: string, maxProperties?: number): JSONSchemaProps {
  const s: JSONSchemaProps = { type: 'object', description, additionalProperties: { type: 'string' } };
  if (maxProperties !== undefined) s.maxProperties = maxProperties;
  return s;
}

/** A status condition (metav1.Condition-like), shared by every kind. */
export const conditionSchema: JSONSchemaProps = {
  type: 'object',
  title: 'Condition',
  description: 'One aspect of the current state of the object.',
  required: ['type', 'status'],
  properties: {
    type: { type: 'string', maxLength: 316, description: 'Type of the condition, e.g. Ready, Complete, Failed.' },
    status: {
      type: 'string',
      title: 'ConditionStatus',
      enum: ['True', 'False', 'Unknown'],
      description: 'Status of the condition: True, False or Unknown.',
    },
    reason: { type: 'string', maxLength: 1024, description: 'Machine-readable, CamelCase reason for the last transition.' },
    message: { type: 'string', maxLength: 32768, description: 'Human-readable details about the last transition.' },
    lastTransitionTime: timestampSchema('When the status last changed (RFC 3339).'),
    lastHeartbeatTime: timestampSchema('When the condition was last confirmed (RFC 3339).'),
    observedGeneration: {
      type: 'integer',
      minimum: 0,
      description: 'metadata.generation the condition was computed from.',
    },
  },
};

/**
 * The object metadata used for validation (the published schema has `metadata: {type: object}`,
 * as a CRD must). Label/annotation key and value rules and sizes are checked in code
 * (api/validation.ts), so that each bad entry gets one clear cause.
 */
export function objectMetaSchema(namespaced: boolean): JSONSchemaProps {
  const namePattern = namespaced ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
  const nameMax = namespaced ? 63 : 253;
  return {
    type: 'object',
    required: ['name'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: nameMax, pattern: namePattern },
      generateName: {
        type: 'string',
        maxLength: nameMax - 5,
        pattern: namespaced ? DNS1123_LABEL_PREFIX : DNS1123_SUBDOMAIN_PREFIX,
      },
      namespace: { type: 'string', maxLength: 63, pattern: DNS1123_LABEL },
      uid: { type: 'string', maxLength: 128 },
      resourceVersion: { type: 'string', maxLength: 64 },
      generation: { type: 'integer', minimum: 0 },
      creationTimestamp: timestampSchema(undefined, true),
      deletionTimestamp: timestampSchema(undefined, true),
      deletionGracePeriodSeconds: { type: 'integer', minimum: 0 },
      labels: { type: 'object', additionalProperties: { type: 'string' } },
      annotations: { type: 'object', additionalProperties: { type: 'string' } },
      finalizers: { type: 'array', maxItems: 32, items: { type: 'string' } },
      ownerReferences: {
        type: 'array',
        maxItems: 32,
        items: {
          type: 'object',
          required: ['apiVersion', 'kind', 'name', 'uid'],
          properties: {
            apiVersion: { type: 'string', maxLength: 316 },
            kind: { type: 'string', maxLength: 63 },
            name: { type: 'string', maxLength: 253 },
            uid: { type: 'string', maxLength: 128 },
            controller: { type: 'boolean' },
            blockOwnerDeletion: { type: 'boolean' },
          },
        },
      },
      managedFields: {
        type: 'array',
        maxItems: 64,
        items: {
          type: 'object',
          properties: {
            manager: { type: 'string', maxLength: 128 },
            operation: { type: 'string', maxLength: 32 },
            apiVersion: { type: 'string', maxLength: 316 },
            time: timestampSchema(undefined, true),
            fieldsType: { type: 'string', maxLength: 32 },
            fieldsV1: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            subresource: { type: 'string', maxLength: 64 },
          },
        },
      },
    },
  };
}
