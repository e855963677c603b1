// A small typed client for the Incus REST API (LXD speaks the same one) over its unix socket,
// with node:http. Every request has a timeout; async operations are awaited with
// `GET /1.0/operations/<id>/wait`; failures carry incusd's own `error` text.
//
// Only what the incus task driver needs: server info, instances (create, state, delete),
// exec with recorded output, exec output read by byte range, and the files API.
import { Agent, type IncomingHttpHeaders, request } from 'node:http';

/** Default timeout of one HTTP request, in ms. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** The longest a JSON answer may be: larger ones are refused rather than buffered. */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

export interface IncusClientOptions {
  socketPath: string;
  /** Sent as `?project=` with every request. Default 'default'. */
  project?: string;
  /** Timeout of one request, in ms. Default 30000. */
  timeoutMs?: number;
}

/** The envelope of every JSON answer. */
interface IncusEnvelope {
  type: 'sync' | 'async' | 'error';
  status_code: number;
  error_code: number;
  error: string;
  operation: string;
  metadata: unknown;
}

export interface IncusOperation {
  id: string;
  class: string;
  description: string;
  /** 'Running', 'Success', 'Failure', 'Cancelled', ... */
  status: string;
  /** 103 running, 200 success, 400 failure, 401 cancelled. */
  status_code: number;
  metadata: Record<string, unknown> | null;
  err: string;
}

export interface IncusServerInfo {
  api_extensions: string[];
  api_version: string;
  /** 'trusted' when this client may do anything. */
  auth: string;
  environment?: {
    /** 'incus' or 'lxd'. */
    server?: string;
    server_version?: string;
    server_name?: string;
    /** Instance drivers, e.g. 'lxc' or 'lxc | qemu'. */
    driver?: string;
    driver_version?: string;
    storage?: string;
    kernel_features?: Record<string, string>;
    project?: string;
  };
}

export interface IncusInstance {
  name: string;
  /** 'Running', 'Stopped', ... */
  status: string;
  status_code: number;
  type: string;
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
  expanded_config?: Record<string, string>;
  expanded_devices?: Record<string, Record<string, string>>;
  profiles: string[];
  created_at: string;
  project?: string;
}

export interface IncusInstanceState {
  status: string;
  status_code: number;
  pid: number;
  processes: number;
  memory: { usage: number; usage_peak: number; swap_usage?: number; swap_usage_peak?: number };
  cpu: { usage: number };
  network: Record<string, unknown> | null;
}

export interface IncusProfile {
  name: string;
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
}

export interface IncusExecRequest {
  command: string[];
  environment: Record<string, string>;
  cwd?: string;
  'wait-for-websocket': false;
  interactive: false;
  /** Output to exec-output/exec_<op>.stdout|stderr (else discarded). */
  'record-output': boolean;
}

/** An error answered by incusd (or its operation), with its own text. */
export class IncusError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    /** incusd's `error_code`, else the HTTP status. */
    readonly statusCode: number,
    /** incusd's `error` text (or the operation's `err`). */
    readonly incusError: string,
  ) {
    super(`incus ${method} ${path}: ${incusError} (${statusCode})`);
    this.name = new.target.name;
  }
}

/** The object asked for does not exist (404). */
export class IncusNotFoundError extends IncusError {}

/** incusd could not be reached, or did not answer in time. */
export class IncusConnectionError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`incus ${method} ${path}: ${detail}`, options);
    this.name = new.target.name;
  }
}

export interface RequestOptions {
  body?: unknown;
  /** Raw request body (files API); `body` must then be absent. */
  rawBody?: Buffer | string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** The Incus REST API over a unix socket. */
export class IncusClient {
  readonly socketPath: string;
  readonly project: string;
  private readonly timeoutMs: number;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 16 });
  private readonly closing = new AbortController();

  constructor(options: IncusClientOptions) {
    this.socketPath = options.socketPath;
    this.project = options.project ?? 'default';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /** Aborts every request in flight and closes idle connections. */
  close(): void {
    this.closing.abort(new Error('incus client closed'));
    this.agent.destroy();
  }

  /** One JSON request; resolves with the envelope of a sync or async answer, throws on errors. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<{ metadata: T; operation: string; type: string }> {
    const headers: Record<string, string> = { ...options.headers };
    let body: Buffer | undefined;
    if (options.rawBody !== undefined) body = Buffer.from(options.rawBody);
    else if (options.body !== undefined) {
      body = Buffer.from(JSON.stringify(options.body));
      headers['Content-Type'] = 'application/json';
    }
    const res = await this.raw(method, path, { ...options, headers, ...(body ? { rawBody: body } : {}) });
    const envelope = this.parse(method, path, res);
    return { metadata: envelope.metadata as T, operation: envelope.operation, type: envelope.type };
  }

  /** GET of a JSON resource: its metadata. */
  async get<T>(path: string, query?: Record<string, string>, timeoutMs?: number): Promise<T> {
    return (await this.request<T>('GET', path, { ...(query ? { query } : {}), ...(timeoutMs ? { timeoutMs } : {}) })).metadata;
  }

  /** Starts an async request and waits for its operation; throws with the operation's error text. */
  async run(method: string, path: string, body: unknown, waitSeconds = 120): Promise<IncusOperation> {
    const res = await this.request<IncusOperation>(method, path, body === undefined ? {} : { body });
    if (res.type !== 'async') return res.metadata;
    const op = await this.waitOperation(operationIdOf(res), waitSeconds);
    if (op.status_code === 103) throw new IncusError(method, path, 504, `operation ${op.id} (${op.description}) still running after ${waitSeconds} s`);
    return op;
  }

  /**
   * `GET /1.0/operations/<id>/wait?timeout=<s>`: the operation once done, or still running
   * (status_code 103) after `timeoutSeconds`. A failed operation throws IncusError with its
   * `err`; an operation incusd no longer knows (it forgets finished ones after ~5 s) throws
   * IncusNotFoundError.
   */
  async waitOperation(id: string, timeoutSeconds: number, signal?: AbortSignal): Promise<IncusOperation> {
    const path = `/1.0/operations/${encodeURIComponent(id)}/wait`;
    const op = (
      await this.request<IncusOperation>('GET', path, {
        query: { timeout: String(timeoutSeconds) },
        timeoutMs: timeoutSeconds * 1000 + this.timeoutMs,
        ...(signal ? { signal } : {}),
      })
    ).metadata;
    if (op.status_code >= 400) throw new IncusError('GET', path, op.status_code, op.err || op.status);
    return op;
  }

  /** The operation's current state (IncusNotFoundError once incusd forgot it). */
  async getOperation(id: string): Promise<IncusOperation> {
    return this.get<IncusOperation>(`/1.0/operations/${encodeURIComponent(id)}`);
  }

  serverInfo(timeoutMs?: number): Promise<IncusServerInfo> {
    return this.get<IncusServerInfo>('/1.0', undefined, timeoutMs);
  }

  profile(name: string): Promise<IncusProfile> {
    return this.get<IncusProfile>(`/1.0/profiles/${encodeURIComponent(name)}`);
  }

  instance(name: string): Promise<IncusInstance> {
    return this.get<IncusInstance>(instancePath(name));
  }

  /** Every instance of the project, with config (`recursion=1`). */
  instances(): Promise<IncusInstance[]> {
    return this.get<IncusInstance[]>('/1.0/instances', { recursion: '1' });
  }

  instanceState(name: string): Promise<IncusInstanceState> {
    return this.get<IncusInstanceState>(`${instancePath(name)}/state`);
  }

  /** Creates an instance (`POST /1.0/instances`) and waits for it. */
  async createInstance(body: Record<string, unknown>): Promise<void> {
    await this.run('POST', '/1.0/instances', body);
  }

  /** `PUT /state` (start, stop, ...) and waits for it. */
  async changeState(name: string, change: { action: 'start' | 'stop' | 'restart' | 'freeze' | 'unfreeze'; force?: boolean; timeout?: number }): Promise<void> {
    await this.run('PUT', `${instancePath(name)}/state`, change);
  }

  /** Deletes a stopped instance and waits for it. */
  async deleteInstance(name: string): Promise<void> {
    await this.run('DELETE', instancePath(name), undefined);
  }

  /** Starts a command (not waited for); the id of its operation. */
  async exec(name: string, body: IncusExecRequest): Promise<string> {
    return operationIdOf(await this.request<IncusOperation>('POST', `${instancePath(name)}/exec`, { body }));
  }

  /**
   * Up to `maxBytes` of a recorded exec output file (`exec_<op>.stdout|stderr`) from byte
   * `offset` (HTTP Range); an empty buffer when nothing lies beyond `offset` yet.
   */
  async readExecOutput(name: string, file: string, offset: number, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
    const path = `${instancePath(name)}/logs/exec-output/${encodeURIComponent(file)}`;
    const res = await this.raw('GET', path, { headers: { Range: `bytes=${offset}-${offset + maxBytes - 1}` }, ...(signal ? { signal } : {}) });
    if (res.status === 416) return Buffer.alloc(0); // nothing beyond `offset`
    if (res.status === 206) return res.body;
    if (res.status === 200) return res.body.subarray(offset, offset + maxBytes); // Range ignored: the whole file
    this.parse('GET', path, res); // throws the error it carries
    throw new IncusError('GET', path, res.status, `unexpected answer ${res.status}`);
  }

  /** A file of the instance (the files API) and its modification time; IncusNotFoundError when absent. */
  async readFile(name: string, path: string): Promise<{ content: Buffer; modifiedAt: Date | undefined }> {
    const url = `${instancePath(name)}/files`;
    const res = await this.raw('GET', url, { query: { path } });
    if (res.status === 200 && res.headers['content-type'] !== 'application/json') {
      const modified = res.headers['last-modified'] ? new Date(res.headers['last-modified']) : undefined;
      return { content: res.body, modifiedAt: modified && !Number.isNaN(modified.getTime()) ? modified : undefined };
    }
    const envelope = this.parse('GET', url, res);
    throw new IncusError('GET', url, 400, `${path} is a ${String(res.headers['x-incus-type'] ?? res.headers['x-lxd-type'] ?? 'directory')}: ${JSON.stringify(envelope.metadata)}`);
  }

  /** Creates a directory, or writes a file, in the instance (files API). */
  async writeFile(name: string, path: string, options: { type: 'directory' } | { type: 'file'; content: Buffer | string }, mode = '0755'): Promise<void> {
    // Incus reads X-Incus-*, LXD X-LXD-*: both are sent.
    const headers: Record<string, string> = {
      'X-Incus-type': options.type,
      'X-LXD-type': options.type,
      'X-Incus-mode': mode,
      'X-LXD-mode': mode,
      'Content-Type': 'application/octet-stream',
    };
    await this.request('POST', `${instancePath(name)}/files`, { query: { path }, headers, rawBody: options.type === 'file' ? options.content : '' });
  }

  /** Throws the error an answer carries; its envelope otherwise. */
  private parse(method: string, path: string, res: RawResponse): IncusEnvelope {
    let envelope: IncusEnvelope | undefined;
    try {
      envelope = JSON.parse(res.body.toString('utf8')) as IncusEnvelope;
    } catch {
      envelope = undefined;
    }
    if (!envelope || typeof envelope !== 'object') {
      const text = res.body.toString('utf8', 0, Math.min(res.body.length, 300)).trim();
      const code = res.status >= 400 ? res.status : 502;
      if (code === 404) throw new IncusNotFoundError(method, path, code, text || 'not found');
      throw new IncusError(method, path, code, `not a JSON answer (HTTP ${res.status}): ${text}`);
    }
    if (envelope.type === 'error' || res.status >= 400) {
      const code = envelope.error_code || res.status;
      const text = envelope.error || `HTTP ${res.status}`;
      if (code === 404) throw new IncusNotFoundError(method, path, code, text);
      throw new IncusError(method, path, code, text);
    }
    return envelope;
  }

  private raw(method: string, path: string, options: RequestOptions): Promise<RawResponse> {
    const query = new URLSearchParams({ ...options.query, project: this.project }).toString();
    const url = `${path}?${query}`;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const body = options.rawBody === undefined ? undefined : Buffer.from(options.rawBody);
    const headers: Record<string, string> = { ...options.headers };
    if (body) headers['Content-Length'] = String(body.length);
    const signals = [this.closing.signal, ...(options.signal ? [options.signal] : [])];
    return new Promise<RawResponse>((resolve, reject) => {
      const signal = AbortSignal.any(signals);
      if (signal.aborted) {
        reject(new IncusConnectionError(method, path, `aborted: ${String((signal.reason as Error | undefined)?.message ?? signal.reason)}`));
        return;
      }
      let settled = false;
      const fail = (detail: string, cause?: unknown): void => {
        if (settled) return;
        settled = true;
        cleanup();
        req.destroy();
        reject(new IncusConnectionError(method, path, detail, cause === undefined ? undefined : { cause }));
      };
      const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
      const onAbort = (): void => fail(`aborted: ${String((signal.reason as Error | undefined)?.message ?? signal.reason)}`);
      signal.addEventListener('abort', onAbort, { once: true });
      const cleanup = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      const req = request({ socketPath: this.socketPath, path: url, method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_JSON_BYTES && res.headers['content-type'] === 'application/json') {
            fail(`answer larger than ${MAX_JSON_BYTES} bytes`);
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => fail(`reading the answer: ${err.message}`, err));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          cleanup();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const hint = err.code === 'ENOENT' ? ` (no socket at ${this.socketPath})` : err.code === 'EACCES' ? ` (no permission on ${this.socketPath})` : '';
        fail(`${err.message}${hint}`, err);
      });
      req.end(body);
    });
  }
}

/** `/1.0/instances/<name>`. */
function instancePath(name: string): string {
  return `/1.0/instances/${encodeURIComponent(name)}`;
}

/** The operation id of an async answer. */
function operationIdOf(res: { metadata: unknown; operation: string }): string {
  const fromMetadata = (res.metadata as { id?: unknown } | null)?.id;
  if (typeof fromMetadata === 'string' && fromMetadata !== '') return fromMetadata;
  const fromUrl = res.operation.split('/').pop();
  if (!fromUrl) throw new Error(`incus answered an async request without an operation: ${JSON.stringify(res)}`);
  return fromUrl;
}
