// The kubeconfig `dev` writes so that kubectl works at once: HTTPS URL, the server's CA, a token.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stringify } from 'yaml';

export interface KubeconfigInput {
  /** https URL of the API server (kubectl sends tokens only over TLS). */
  readonly server: string;
  /** PEM of the CA to trust; absent: the system trust store. */
  readonly caCert?: string;
  readonly token: string;
  readonly username: string;
  readonly namespace?: string;
  /** Name of the cluster and context entries. */
  readonly name?: string;
}

export function kubeconfigYaml(input: KubeconfigInput): string {
  const name = input.name ?? 'openscheduler';
  const cluster: Record<string, string> = { server: input.server };
  if (input.caCert !== undefined) cluster['certificate-authority-data'] = Buffer.from(input.caCert, 'utf8').toString('base64');
  const user = `${input.username}@${name}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster }],
    users: [{ name: user, user: { token: input.token } }],
    contexts: [{ name, context: { cluster: name, user, namespace: input.namespace ?? 'default' } }],
    'current-context': name,
    preferences: {},
  });
}

/** Writes the kubeconfig with mode 0600 (it holds a token). */
export async function writeKubeconfig(path: string, input: KubeconfigInput): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, kubeconfigYaml(input), { mode: 0o600 });
  await chmod(path, 0o600);
}
