// A daemon's settings declared once, as a table: every setting has a config-file key (camelCase),
// usually a flag (--kebab-case) and an environment variable, a type, a default and a one-line
// description. From the table come the parsing of flags, environment and config file (YAML or
// JSON, validated by a JSON schema, unknown keys refused), the merge (flags > environment > config
// file > defaults) that remembers where every value came from, `openscheduler config print` and
// the README's configuration tables. Pure: callers pass in the flags, environment and file text.
//
// Relative paths resolve against the directory of the config file for values from the file, and
// against the working directory for values from flags, environment and defaults.
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { parseDuration } from './duration.js';

/** A setting with a bad value or an unknown key; the message names the setting, where it came from and the rule. */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
}

/** Where a setting's effective value came from. */
export type Source = 'default' | 'file' | 'env' | 'flag';

export interface Origin {
  readonly source: Source;
  /** Human form of the source, e.g. `--http-port`, `environment OPENSCHEDULER_HTTP_PORT`, `config file /etc/x.yaml`. */
  readonly where: string;
}

/** How one kind of value is read from text (flags, environment) and from a config file. */
export interface SettingType {
  /** JSON schema of the value in a config file. */
  readonly schema: Readonly<Record<string, unknown>>;
  /** The rule a file value breaking an `anyOf` schema is told (ajv's own message otherwise). */
  readonly fileRule?: string;
  /** The value of flag or environment text; throws an Error whose message is the rule broken. */
  parseText(text: string): unknown;
  /** The value of a schema-valid config-file value; throws the rule broken. Absent: taken as is. */
  fromFile?(value: unknown): unknown;
  /** The value as `config print` shows it (JSON-compatible). Absent: as is. */
  format?(value: unknown): unknown;
  /** The value with its relative paths resolved against `base`. Absent: no paths in it. */
  resolvePaths?(value: unknown, base: string): unknown;
  /** Flag argument placeholder in help and docs (e.g. N, DIR); absent: a switch (boolean). */
  readonly arg?: string;
  /** The flag may be given several times; its values are joined with commas. */
  readonly repeatable?: boolean;
}

/** One setting. `C` is the context computed defaults get (e.g. the server's mode). */
export interface SettingSpec<C = unknown> {
  /** Config-file key and the name in `config print`. */
  readonly key: string;
  /** Long flag name without dashes; absent: no flag. */
  readonly flag?: string;
  /** Environment variable; absent: none. */
  readonly env?: string;
  readonly type: SettingType;
  /** One line for `--help` and the README. */
  readonly description: string;
  /** Default value (as the setting's values are, paths relative to the working directory). Absent: unset. */
  readonly default?: unknown;
  /**
   * Default computed from the context and the values so far: every setting given, and the
   * defaults of the settings before this one in the table. Wins over `default`; needs `defaultText`.
   */
  readonly computeDefault?: (context: C, given: Readonly<Record<string, unknown>>) => unknown;
  /** The default as docs print it; absent: `default` formatted, or none. */
  readonly defaultText?: string;
  /** Never printed: `config print` shows `<redacted>`. */
  readonly secret?: boolean;
  /** Refused in the config file (e.g. a secret that belongs in the environment). */
  readonly envOnly?: boolean;
  /** Heading under which `--help` lists the flag. */
  readonly group?: string;
}

export interface SettingsTableOptions {
  /** Builds the error thrown for a bad setting. Default: ConfigError. */
  readonly error?: (message: string) => ConfigError;
  /**
   * How messages name a setting given by flag or environment: 'source' (`--http-port`,
   * `environment OPENSCHEDULER_HTTP_PORT`) or 'flag' (`http-port`, whichever the source).
   * Values from the file are always named `config file PATH: key`. Default 'source'.
   */
  readonly naming?: 'source' | 'flag';
}

export interface MergeInput<S, C> {
  readonly flags?: Partial<S>;
  readonly env?: Partial<S>;
  readonly file?: Partial<S>;
  /** The config file `file` came from (relative paths in it resolve against its directory). */
  readonly configFile?: string;
  /** Relative paths from flags, environment and defaults resolve against this. */
  readonly cwd: string;
  readonly context: C;
}

/** The merged settings: the effective value of every setting that has one, and where each came from. */
export interface EffectiveSettings<S> {
  /** Unset settings (no value, no default) are absent. Relative paths are resolved. */
  readonly values: S;
  readonly origins: Readonly<Record<string, Origin>>;
  /** The config file read, as given. */
  readonly configFile?: string;
  /** How error messages name `key` (by where its value came from), e.g. `--bind-address` or `config file c.yaml: bindAddress`. */
  label(key: keyof S & string): string;
}

/** `kebab-case` flag name to the camelCase property commander gives it. */
export function flagProperty(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** A settings table: parsing, validation, merging, printing and docs of one daemon's settings. */
export class SettingsTable<S extends object, C = unknown> {
  private readonly error: (message: string) => ConfigError;
  private readonly naming: 'source' | 'flag';
  private readonly fileSpecs: readonly SettingSpec<C>[];

  constructor(
    readonly specs: readonly SettingSpec<C>[],
    options: SettingsTableOptions = {},
  ) {
    this.error = options.error ?? ((message) => new ConfigError(message));
    this.naming = options.naming ?? 'source';
    this.fileSpecs = specs.filter((s) => !s.envOnly);
    checkTable(specs);
  }

  /** The spec of `key`; throws on an unknown key (a programming error). */
  spec(key: string): SettingSpec<C> {
    const spec = this.specs.find((s) => s.key === key);
    if (spec === undefined) throw new Error(`no setting "${key}"`);
    return spec;
  }

  /** The keys a config file accepts. */
  fileKeys(): string[] {
    return this.fileSpecs.map((s) => s.key);
  }

  /** Settings from parsed flags, keyed by the camelCase of the flag name (as commander gives them). Empty strings are ignored. */
  fromFlags(flags: Readonly<Record<string, unknown>>): Partial<S> {
    const out: Record<string, unknown> = {};
    for (const spec of this.specs) {
      if (spec.flag === undefined) continue;
      const value = flags[flagProperty(spec.flag)];
      if (value === undefined || value === '') continue;
      const where = this.naming === 'flag' ? spec.flag : `--${spec.flag}`;
      if (typeof value === 'boolean' && spec.type.arg === undefined) out[spec.key] = value;
      else out[spec.key] = this.parseText(spec, Array.isArray(value) ? value.map(String).join(',') : String(value), where);
    }
    return out as Partial<S>;
  }

  /** Settings from the environment (empty variables are ignored). */
  fromEnv(env: Readonly<Record<string, string | undefined>>): Partial<S> {
    const out: Record<string, unknown> = {};
    for (const spec of this.specs) {
      if (spec.env === undefined) continue;
      const text = env[spec.env];
      if (text === undefined || text === '') continue;
      out[spec.key] = this.parseText(spec, text, this.naming === 'flag' ? (spec.flag ?? spec.key) : `environment ${spec.env}`);
    }
    return out as Partial<S>;
  }

  /** Parses and validates a config file (YAML or JSON); unknown keys and bad values are errors naming the key and the rule. */
  parseFile(text: string, path: string): Partial<S> {
    let doc: unknown;
    try {
      doc = parseYaml(text, { maxAliasCount: 10, uniqueKeys: true }) ?? {};
    } catch (err) {
      throw this.error(`config file ${path}: not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
    }
    if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) {
      const envOnly = this.specs.find((s) => s.envOnly && Object.hasOwn(doc as object, s.key));
      if (envOnly !== undefined) {
        throw this.error(`config file ${path}: "${envOnly.key}" is not accepted in a config file; set ${envOnly.env ?? 'it'} in the environment`);
      }
    }
    const validate = new Ajv({ allErrors: true, strict: true }).compile(this.schema());
    if (!validate(doc)) {
      // anyOf reports each branch too; keep the summary line of each key only
      const errors = (validate.errors ?? []).filter((e) => !e.schemaPath.includes('/anyOf/'));
      throw this.error(`config file ${path}: ${errors.map((e) => this.ajvMessage(e)).join('; ')}`);
    }
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
      const spec = this.spec(key);
      out[key] = spec.type.fromFile === undefined ? value : this.convert(() => spec.type.fromFile!(value), `config file ${path}: ${key}`, value);
    }
    return out as Partial<S>;
  }

  /** The JSON schema of the config file. */
  schema(): Record<string, unknown> {
    return { type: 'object', additionalProperties: false, properties: Object.fromEntries(this.fileSpecs.map((s) => [s.key, s.type.schema])) };
  }

  /** Merges flags > environment > file > defaults; resolves relative paths; records where each value came from. */
  merge(input: MergeInput<S, C>): EffectiveSettings<S> {
    const layers: [Source, Partial<S> | undefined][] = [
      ['flag', input.flags],
      ['env', input.env],
      ['file', input.file],
    ];
    const fileDir = input.configFile === undefined ? input.cwd : dirname(resolve(input.cwd, input.configFile));
    const values: Record<string, unknown> = {};
    const origins: Record<string, Origin> = {};
    for (const spec of this.specs) {
      for (const [source, layer] of layers) {
        const value = (layer as Record<string, unknown> | undefined)?.[spec.key];
        if (value === undefined) continue;
        const base = source === 'file' ? fileDir : input.cwd;
        values[spec.key] = spec.type.resolvePaths === undefined ? value : spec.type.resolvePaths(value, base);
        origins[spec.key] = { source, where: this.where(spec, source, input.configFile) };
        break;
      }
    }
    for (const spec of this.specs) {
      if (spec.key in values) continue;
      const value = spec.computeDefault !== undefined ? spec.computeDefault(input.context, values) : spec.default;
      origins[spec.key] = { source: 'default', where: 'default' };
      if (value === undefined) continue;
      values[spec.key] = spec.type.resolvePaths === undefined ? value : spec.type.resolvePaths(value, input.cwd);
    }
    const label = (key: string): string => {
      const origin = origins[key];
      const spec = this.spec(key);
      if (origin?.source === 'file') return `${origin.where}: ${key}`;
      if (this.naming === 'flag') return spec.flag ?? key;
      if (origin?.source === 'flag' || origin?.source === 'env') return origin.where;
      return spec.flag !== undefined ? `--${spec.flag}` : key;
    };
    return { values: values as S, origins, ...(input.configFile !== undefined ? { configFile: input.configFile } : {}), label };
  }

  /**
   * The effective settings as YAML (the source of each value as a comment; unset and
   * environment-only settings commented out) or JSON (`settings`, `sources`). Secrets show as
   * `<redacted>`; `shown` replaces the value shown for some keys (e.g. how a secret is provided).
   */
  print(effective: EffectiveSettings<S>, format: 'yaml' | 'json', options: { readonly title: string; readonly shown?: Readonly<Record<string, string>> }): string {
    const shownValue = (spec: SettingSpec<C>): unknown => {
      const override = options.shown?.[spec.key];
      if (override !== undefined) return override;
      const value = (effective.values as Record<string, unknown>)[spec.key];
      if (value === undefined) return undefined;
      if (spec.secret) return '<redacted>';
      return spec.type.format === undefined ? value : spec.type.format(value);
    };
    if (format === 'json') {
      const settings: Record<string, unknown> = {};
      const sources: Record<string, Source> = {};
      for (const spec of this.specs) {
        settings[spec.key] = shownValue(spec) ?? null;
        sources[spec.key] = effective.origins[spec.key]?.source ?? 'default';
      }
      return JSON.stringify({ ...(effective.configFile !== undefined ? { configFile: effective.configFile } : {}), settings, sources }, null, 2) + '\n';
    }
    const rows = this.specs.map((spec) => {
      const value = shownValue(spec);
      const origin = effective.origins[spec.key];
      const text = value === undefined ? '(not set)' : stringifyYaml(value, { collectionStyle: 'flow', lineWidth: 0 }).trimEnd();
      const commented = value === undefined || spec.envOnly === true;
      let where = origin?.where ?? 'default';
      if (value === undefined && spec.defaultText !== undefined) where = `default: ${spec.defaultText.replace(/`/g, '')}`;
      if (spec.envOnly && origin?.source !== 'env') where += `; environment only (${spec.env ?? ''})`;
      return { head: `${commented ? '# ' : ''}${spec.key}: ${text}`, where };
    });
    const width = Math.min(60, Math.max(...rows.map((r) => r.head.length)));
    return [`# ${options.title}`, ...rows.map((r) => `${r.head.padEnd(width)}  # ${r.where}`), ''].join('\n');
  }

  /** A Markdown table of the settings: key, flag, environment variable, default, meaning. */
  markdown(): string {
    const cell = (text: string): string => text.replace(/\|/g, '\\|');
    const lines = ['| config key | flag | environment | default | meaning |', '|---|---|---|---|---|'];
    for (const spec of this.specs) {
      const flag = spec.flag === undefined ? '' : `\`--${spec.flag}${spec.type.arg === undefined ? '' : ` ${spec.type.arg}`}\``;
      const key = spec.envOnly ? '(environment only)' : `\`${spec.key}\``;
      const env = spec.env === undefined ? '' : `\`${spec.env}\``;
      const meaning = spec.secret ? `${spec.description} (secret: \`config print\` masks it)` : spec.description;
      lines.push(`| ${[key, flag, env, defaultText(spec), meaning].map(cell).join(' | ')} |`);
    }
    return lines.join('\n');
  }

  private parseText(spec: SettingSpec<C>, text: string, where: string): unknown {
    return this.convert(() => spec.type.parseText(text), where, text);
  }

  private convert(fn: () => unknown, where: string, got: unknown): unknown {
    try {
      return fn();
    } catch (err) {
      throw this.error(`${where}: ${(err as Error).message} (got ${JSON.stringify(got)})`);
    }
  }

  private where(spec: SettingSpec<C>, source: Source, configFile: string | undefined): string {
    switch (source) {
      case 'flag':
        return `--${spec.flag ?? spec.key}`;
      case 'env':
        return `environment ${spec.env ?? spec.key}`;
      case 'file':
        return `config file ${configFile ?? '(unnamed)'}`;
      case 'default':
        return 'default';
    }
  }

  private ajvMessage(e: ErrorObject): string {
    const key = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      return `unknown key "${key ? `${key}.` : ''}${extra}" (known keys: ${this.fileKeys().join(', ')})`;
    }
    if (e.keyword === 'enum') return `${key}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    if (e.keyword === 'anyOf') {
      const rule = this.fileSpecs.find((s) => s.key === key.split('.')[0])?.type.fileRule;
      if (rule !== undefined) return `${key}: ${rule}`;
    }
    return `${key || '(top level)'}: ${e.message ?? 'is invalid'}`;
  }
}

/** The default as the docs show it. */
export function defaultText(spec: SettingSpec<never>): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.default === undefined) return '';
  const value = spec.type.format === undefined ? spec.default : spec.type.format(spec.default);
  if (Array.isArray(value) && value.length === 0) return 'none';
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) return 'none';
  return `\`${Array.isArray(value) ? value.join(',') : typeof value === 'object' ? JSON.stringify(value) : String(value)}\``;
}

/** Programming errors in a table: duplicate keys, flags or variables; a computed default without its text. */
function checkTable(specs: readonly SettingSpec<never>[]): void {
  const seen = new Set<string>();
  for (const spec of specs) {
    for (const name of [`key ${spec.key}`, spec.flag && `flag ${spec.flag}`, spec.env && `env ${spec.env}`]) {
      if (!name) continue;
      if (seen.has(name)) throw new Error(`settings table: ${name} appears twice`);
      seen.add(name);
    }
    if (spec.computeDefault !== undefined && spec.defaultText === undefined) throw new Error(`settings table: ${spec.key} computes its default but has no defaultText`);
    if (spec.description.trim() === '') throw new Error(`settings table: ${spec.key} has no description`);
  }
}

// ---- value types ---------------------------------------------------------------------------------

const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off)$/i;

/** A string (non-empty unless `allowEmpty`). */
export function stringType(options: { readonly arg?: string; readonly allowEmpty?: boolean } = {}): SettingType {
  return {
    schema: options.allowEmpty ? { type: 'string' } : { type: 'string', minLength: 1 },
    parseText: (text) => text,
    arg: options.arg ?? 'VALUE',
  };
}

/** A file or directory path; relative paths resolve (see the module comment). */
export function pathType(arg = 'FILE'): SettingType {
  return { ...stringType({ arg }), resolvePaths: (value, base) => resolve(base, value as string) };
}

/** A program: a bare name is looked up in PATH (as a shell does); anything with a "/" is a path. */
export function commandType(arg = 'PATH'): SettingType {
  return { ...stringType({ arg }), resolvePaths: (value, base) => ((value as string).includes('/') ? resolve(base, value as string) : value) };
}

export const BOOLEAN: SettingType = {
  schema: { type: 'boolean' },
  parseText(text) {
    if (TRUE.test(text.trim())) return true;
    if (FALSE.test(text.trim())) return false;
    throw new Error('must be true or false');
  },
};

export const PORT: SettingType = {
  schema: { type: 'integer', minimum: 0, maximum: 65535 },
  parseText(text) {
    const value = text.trim();
    if (!/^\d+$/.test(value) || Number(value) > 65535) throw new Error('must be a port number from 0 to 65535');
    return Number(value);
  },
  arg: 'N',
};

export function integerType(min: number, max: number): SettingType {
  return {
    schema: { type: 'integer', minimum: min, maximum: max },
    parseText(text) {
      const value = text.trim();
      if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new Error(`must be an integer from ${min} to ${max}`);
      return Number(value);
    },
    arg: 'N',
  };
}

/** One of a few words. */
export function enumType(values: readonly string[]): SettingType {
  const rule = values.length === 2 ? `must be ${values[0]} or ${values[1]}` : `must be one of ${values.join(', ')}`;
  return {
    schema: { enum: [...values] },
    parseText(text) {
      const value = text.trim();
      if (!values.includes(value)) throw new Error(rule);
      return value;
    },
    arg: values.join('|'),
  };
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** A list of strings: comma-separated in flags (repeatable) and environment; a list or one comma-separated string in the file. */
export function listType(options: { readonly arg?: string; readonly paths?: boolean } = {}): SettingType {
  return {
    schema: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string', minLength: 1 } }] },
    fileRule: 'must be a list of strings (or one comma-separated string)',
    parseText: splitList,
    fromFile: (value) => (typeof value === 'string' ? splitList(value) : value),
    ...(options.paths ? { resolvePaths: (value: unknown, base: string) => (value as string[]).map((p) => resolve(base, p)) } : {}),
    arg: options.arg ?? 'A,B',
    repeatable: true,
  };
}

/**
 * A string map: `k=v,k=v` in flags (repeatable) and environment, an object in the file.
 * `check` returns the rule a key or value breaks, if any.
 */
export function mapType(check: (key: string, value: string) => string | undefined, arg = 'K=V,...'): SettingType {
  const checked = (entries: [string, string][]): Record<string, string> => {
    for (const [k, v] of entries) {
      const rule = check(k, v);
      if (rule !== undefined) throw new Error(rule);
    }
    return Object.fromEntries(entries);
  };
  return {
    schema: { type: 'object', additionalProperties: { type: 'string' } },
    parseText(text) {
      return checked(
        splitList(text).map((pair): [string, string] => {
          const eq = pair.indexOf('=');
          if (eq <= 0) throw new Error(`"${pair}" is not key=value`);
          return [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
        }),
      );
    },
    fromFile: (value) => checked(Object.entries(value as Record<string, string>)),
    arg,
    repeatable: true,
  };
}

/** Milliseconds as duration text parseDuration reads back (e.g. 1m30s, 24h, 7d, 500ms; days from 2d on). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    if (rest >= size && !(unit === 'd' && ms < 2 * size)) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}

/**
 * A duration (30s, 5m, 1h30m, 500ms; a bare number means seconds), held as a number of `unit`
 * (whole seconds or milliseconds), at least `minMs`.
 */
export function durationType(unit: 's' | 'ms', minMs = unit === 's' ? 1000 : 1): SettingType {
  const fromMs = (ms: number): number => {
    const value = unit === 's' ? Math.floor(ms / 1000) : Math.round(ms);
    if (ms < minMs || value <= 0) throw new Error(`must be at least ${formatDuration(minMs)}`);
    return value;
  };
  const parse = (text: string): number => {
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch {
      throw new Error('must be a duration such as 30s or 2m');
    }
    return fromMs(ms);
  };
  return {
    schema: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'number', exclusiveMinimum: 0 }] },
    fileRule: 'must be a duration such as "30s" or "24h", or a number of seconds',
    parseText: parse,
    fromFile: (value) => (typeof value === 'number' ? fromMs(value * 1000) : parse(value as string)),
    format: (value) => formatDuration(unit === 's' ? (value as number) * 1000 : (value as number)),
    arg: 'DUR',
  };
}
