// Reading manifests: files, directories (optionally recursive) and stdin; multi-document YAML
// and JSON; each document located by source, document number and line for error messages.
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';

/** One object read from a manifest source. */
export interface ManifestDocument {
  /** File path, or `STDIN`. */
  readonly source: string;
  /** Where the document is, for messages: `FILE (document 2, line 14)`. */
  readonly where: string;
  readonly object: Record<string, unknown>;
}

/** Something in a source that could not be read as an object; `message` starts with its location. */
export interface ManifestProblem {
  readonly source: string;
  readonly message: string;
}

export interface ParsedManifests {
  readonly documents: ManifestDocument[];
  readonly problems: ManifestProblem[];
}

/** YAML aliases allowed per document (a "billion laughs" document fails fast instead of expanding). */
const MAX_ALIAS_COUNT = 100;
const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
export const STDIN_SOURCE = 'STDIN';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a sequence';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

/**
 * Turns parsed values into documents: empty documents are skipped, a `kind: List` is
 * flattened into its items, anything that is not a mapping is a problem.
 */
function collect(values: { value: unknown; where: string }[], source: string, out: ParsedManifests): void {
  for (const { value, where } of values) {
    if (value === null || value === undefined) continue;
    if (!isObject(value)) {
      out.problems.push({ source, message: `${where}: expected a mapping with apiVersion, kind and metadata, got ${describeValue(value)}` });
      continue;
    }
    if (value.kind === 'List' && Array.isArray(value.items)) {
      value.items.forEach((item: unknown, i: number) => {
        const itemWhere = `${where.slice(0, -1)}, item ${i + 1})`;
        if (isObject(item)) out.documents.push({ source, where: itemWhere, object: item });
        else out.problems.push({ source, message: `${itemWhere}: expected a mapping, got ${describeValue(item)}` });
      });
      continue;
    }
    out.documents.push({ source, where, object: value });
  }
}

/**
 * Parses a multi-document YAML text (JSON is YAML too). A file with a syntax error yields only
 * problems, each `SOURCE:LINE:COL: message`, and no documents, so half a file is never applied.
 */
export function parseYamlManifests(text: string, source: string): ParsedManifests {
  const out: ParsedManifests = { documents: [], problems: [] };
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  const syntax = list.flatMap((doc) => doc.errors);
  if (syntax.length > 0) {
    for (const err of syntax) {
      const pos = err.linePos?.[0];
      const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
      const firstLine = err.message.split('\n')[0] ?? err.message;
      out.problems.push({ source, message: `${where}: YAML syntax error: ${firstLine.replace(/ at line \d+, column \d+:?$/, '')}` });
    }
    return out;
  }
  const values: { value: unknown; where: string }[] = [];
  let number = 0;
  for (const doc of list) {
    let value: unknown;
    let failure: Error | undefined;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      failure = err as Error;
    }
    // Empty documents (nothing, or only comments) are skipped and not counted.
    if (!failure && (value === null || value === undefined)) continue;
    number += 1;
    const line = doc.contents ? lineCounter.linePos(doc.contents.range[0]).line : 1;
    const where = `${source} (document ${number}, line ${line})`;
    if (failure) out.problems.push({ source, message: `${where}: ${failure.message}` });
    else values.push({ value, where });
  }
  collect(values, source, out);
  return out;
}

/** Parses one JSON document; a syntax error is reported as `SOURCE:LINE:COL`. */
export function parseJsonManifest(text: string, source: string): ParsedManifests {
  const out: ParsedManifests = { documents: [], problems: [] };
  if (text.trim() === '') return out;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const position = /at position (\d+)/.exec(message);
    let where = source;
    if (position) {
      const before = text.slice(0, Number(position[1]));
      const lines = before.split('\n');
      where = `${source}:${lines.length}:${(lines.at(-1)?.length ?? 0) + 1}`;
    }
    out.problems.push({ source, message: `${where}: JSON syntax error: ${message.replace(/ in JSON at position \d+.*$/, '')}` });
    return out;
  }
  collect([{ value, where: `${source} (document 1, line 1)` }], source, out);
  return out;
}

/** Parses a file's text by its extension (.json as JSON, anything else as YAML). */
export function parseManifestText(text: string, source: string): ParsedManifests {
  return extname(source).toLowerCase() === '.json' ? parseJsonManifest(text, source) : parseYamlManifests(text, source);
}

/**
 * The manifest files a path names: the file itself, or the .yaml/.yml/.json files of a
 * directory in name order (descending into subdirectories when `recursive`).
 * Throws with the path when it does not exist.
 */
export async function manifestFiles(path: string, recursive: boolean): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`the path "${path}" does not exist`, { cause: err });
    throw err;
  }
  if (!info.isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) {
      if (recursive) files.push(...(await manifestFiles(full, true)));
    } else if (MANIFEST_EXTENSIONS.has(extname(entry.name).toLowerCase())) {
      files.push(full);
    }
  }
  return files;
}

/**
 * Reads every manifest named by `paths` (`-` is stdin, read once through `readStdin`).
 * Unreadable paths and unparsable files become problems; the rest is returned in order.
 */
export async function readManifests(
  paths: readonly string[],
  options: { recursive: boolean; readStdin: () => Promise<string> },
): Promise<ParsedManifests> {
  const out: ParsedManifests = { documents: [], problems: [] };
  const add = (parsed: ParsedManifests): void => {
    out.documents.push(...parsed.documents);
    out.problems.push(...parsed.problems);
  };
  for (const path of paths) {
    if (path === '-') {
      add(parseYamlManifests(await options.readStdin(), STDIN_SOURCE));
      continue;
    }
    let files: string[];
    try {
      files = await manifestFiles(path, options.recursive);
    } catch (err) {
      out.problems.push({ source: path, message: (err as Error).message });
      continue;
    }
    for (const file of files) {
      try {
        add(parseManifestText(await readFile(file, 'utf8'), file));
      } catch (err) {
        out.problems.push({ source: file, message: `${file}: ${(err as Error).message}` });
      }
    }
  }
  return out;
}
