// `osctl describe job|node NAME...`: a readable view of objects, with their events when the API serves them.
import { Command } from 'commander';
import type { ApiObject } from '../api/meta.js';
import { ApiError, type ApiClient } from './client.js';
import type { CommandEnv } from './context.js';
import { type DescribedEvent, describeObject } from './describe.js';
import { CliError, formatError } from './errors.js';
import { type CliResource, objectPath, parseResourceArgs } from './resources.js';

/**
 * Events about an object from the Kubernetes-style events API
 * (`/api/v1/namespaces/NS/events?fieldSelector=involvedObject...`). Undefined when the server
 * does not serve events (404) or fails to: describe shows `<none>` rather than failing.
 */
async function fetchEvents(client: ApiClient, resource: CliResource, obj: ApiObject): Promise<DescribedEvent[] | undefined> {
  const namespace = obj.metadata.namespace ?? '';
  const path = namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/events` : '/api/v1/events';
  const selector = [`involvedObject.name=${obj.metadata.name}`, `involvedObject.namespace=${namespace}`, `involvedObject.kind=${resource.kind}`];
  if (obj.metadata.uid) selector.push(`involvedObject.uid=${obj.metadata.uid}`);
  try {
    const list = await client.get<{ items?: DescribedEvent[] }>(path, { fieldSelector: selector.join(',') });
    return Array.isArray(list?.items) ? list.items : undefined;
  } catch (err) {
    if (err instanceof ApiError) return undefined;
    throw err;
  }
}

export function describeCommand(env: CommandEnv): Command {
  return new Command('describe')
    .description('show the details of jobs or nodes')
    .argument('<type-and-names...>', 'job|node NAME..., or TYPE/NAME...')
    .action(async (args: string[]) => {
      const { deps } = env;
      const { resource, names } = parseResourceArgs(args);
      if (names.length === 0) throw new CliError(`a name is required: osctl describe ${resource.singular} NAME`);
      const session = await env.session();
      let first = true;
      for (const name of names) {
        let obj: ApiObject;
        try {
          obj = await session.client.get<ApiObject>(objectPath(resource, session.namespace, name));
        } catch (err) {
          if (!(err instanceof ApiError && err.code === 404)) throw err;
          deps.stderr.write(`${formatError(err)}\n`);
          env.setExitCode(1);
          continue;
        }
        const events = await fetchEvents(session.client, resource, obj);
        deps.stdout.write(`${first ? '' : '\n\n'}${describeObject(resource, obj, events, deps.now())}`);
        first = false;
      }
    });
}
