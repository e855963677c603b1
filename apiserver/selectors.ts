// Label and field selectors as kube-apiserver understands them.
//   labelSelector: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, `a>1`, `a<1`, comma-joined (AND).
//   fieldSelector: `f=v`, `f==v`, `f!=v`, comma-joined (AND); `\,` `\=` `\\` escape.
import type { ApiObject } from '../api/meta.js';
import { labelValueError, qualifiedNameError } from '../api/validation.js';
import { badRequest } from './status.js';

export type LabelOperator = 'exists' | 'doesNotExist' | 'equals' | 'notEquals' | 'in' | 'notIn' | 'gt' | 'lt';

export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  readonly values: readonly string[];
}

export interface FieldRequirement {
  readonly field: string;
  readonly operator: 'equals' | 'notEquals';
  readonly value: string;
}

type Token =
  | { kind: 'word'; text: string; at: number }
  | { kind: 'op'; text: '=' | '==' | '!=' | '!' | '>' | '<' | '(' | ')' | ','; at: number };

function lexLabelSelector(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '=' || c === '!') {
      const two = input[i + 1] === '=';
      const text = c === '=' ? (two ? '==' : '=') : two ? '!=' : '!';
      tokens.push({ kind: 'op', text, at: i });
      i += two ? 2 : 1;
    } else if (c === '>' || c === '<' || c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: 'op', text: c, at: i });
      i++;
    } else {
      const start = i;
      while (i < input.length && !' \t=!><(),'.includes(input[i]!)) i++;
      tokens.push({ kind: 'word', text: input.slice(start, i), at: start });
    }
  }
  return tokens;
}

function selectorError(param: string, input: string, reason: string): Error {
  return badRequest(`unable to parse ${param} "${input}": ${reason}`);
}

function checkLabelKey(key: string, fail: (reason: string) => Error): void {
  const problem = qualifiedNameError(key);
  if (problem !== undefined) throw fail(`invalid label key "${key}": ${problem}`);
}

function checkLabelValue(value: string, fail: (reason: string) => Error): void {
  const problem = labelValueError(value);
  if (problem !== undefined) throw fail(`invalid label value "${value}": ${problem}`);
}

/** Parses a labelSelector; throws 400 naming the selector and the problem. Empty: matches all. */
export function parseLabelSelector(input: string): LabelRequirement[] {
  const fail = (reason: string): Error => selectorError('labelSelector', input, reason);
  const tokens = lexLabelSelector(input);
  const requirements: LabelRequirement[] = [];
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  const describe = (t: Token | undefined): string => (t === undefined ? 'end of input' : `"${t.text}" at ${t.at}`);
  const expectWord = (what: string): string => {
    const t = tokens[i];
    if (t?.kind !== 'word') throw fail(`expected ${what}, found ${describe(t)}`);
    i++;
    return t.text;
  };
  if (tokens.length === 0) return requirements;
  for (;;) {
    let requirement: LabelRequirement;
    const first = peek();
    if (first?.kind === 'op' && first.text === '!') {
      i++;
      const key = expectWord('a label key after "!"');
      checkLabelKey(key, fail);
      requirement = { key, operator: 'doesNotExist', values: [] };
    } else {
      const key = expectWord('a label key');
      checkLabelKey(key, fail);
      const op = peek();
      if (op === undefined || (op.kind === 'op' && op.text === ',')) {
        requirement = { key, operator: 'exists', values: [] };
      } else if (op.kind === 'op' && (op.text === '=' || op.text === '==' || op.text === '!=')) {
        i++;
        const next = peek();
        let value = '';
        if (next?.kind === 'word') {
          value = next.text;
          i++;
        } else if (next !== undefined && !(next.kind === 'op' && next.text === ',')) {
          throw fail(`expected a label value, found ${describe(next)}`);
        }
        checkLabelValue(value, fail);
        requirement = { key, operator: op.text === '!=' ? 'notEquals' : 'equals', values: [value] };
      } else if (op.kind === 'op' && (op.text === '>' || op.text === '<')) {
        i++;
        const value = expectWord('an integer');
        if (!/^-?\d+$/.test(value)) throw fail(`"${value}" is not an integer (required by "${op.text}")`);
        requirement = { key, operator: op.text === '>' ? 'gt' : 'lt', values: [value] };
      } else if (op.kind === 'word' && (op.text === 'in' || op.text === 'notin')) {
        i++;
        const open = peek();
        if (!(open?.kind === 'op' && open.text === '(')) throw fail(`expected "(" after "${op.text}", found ${describe(open)}`);
        i++;
        const values: string[] = [];
        for (;;) {
          const value = expectWord(`a value in the "${op.text}" set`);
          checkLabelValue(value, fail);
          values.push(value);
          const sep = peek();
          i++;
          if (sep?.kind === 'op' && sep.text === ')') break;
          if (!(sep?.kind === 'op' && sep.text === ',')) throw fail(`expected "," or ")", found ${describe(sep)}`);
        }
        requirement = { key, operator: op.text === 'in' ? 'in' : 'notIn', values };
      } else {
        throw fail(`expected an operator (=, ==, !=, in, notin, >, <) after "${key}", found ${describe(op)}`);
      }
    }
    requirements.push(requirement);
    const sep = peek();
    if (sep === undefined) return requirements;
    if (!(sep.kind === 'op' && sep.text === ',')) throw fail(`expected "," between requirements, found ${describe(sep)}`);
    i++;
  }
}

export function matchesLabels(
  requirements: readonly LabelRequirement[],
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  return requirements.every(({ key, operator, values }) => {
    const has = labels !== undefined && Object.hasOwn(labels, key);
    const value = has ? labels[key] : undefined;
    switch (operator) {
      case 'exists':
        return has;
      case 'doesNotExist':
        return !has;
      case 'equals':
      case 'in':
        return has && values.includes(value!);
      case 'notEquals':
      case 'notIn':
        return !has || !values.includes(value!);
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(value!)) return false;
        const actual = Number(value);
        const bound = Number(values[0]);
        return operator === 'gt' ? actual > bound : actual < bound;
      }
    }
  });
}

/** Field selector keys every kind supports, besides the kind's own. */
export const COMMON_FIELD_SELECTORS: Readonly<Record<string, (obj: ApiObject) => string | undefined>> = {
  'metadata.name': (obj) => obj.metadata.name,
  'metadata.namespace': (obj) => obj.metadata.namespace,
};

function splitUnescaped(input: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === '\\' && i + 1 < input.length) {
      current += c + input[i + 1];
      i++;
    } else if (c === separator) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

function unescapeFieldValue(value: string, fail: (reason: string) => Error): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\') {
      const next = value[i + 1];
      if (next === undefined || !'\\,='.includes(next)) throw fail(`invalid escape sequence in "${value}"`);
      out += next;
      i++;
    } else if (c === ',' || c === '=') {
      throw fail(`unescaped "${c}" in the value "${value}"`);
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * Parses a fieldSelector; `supported` lists the field names allowed.
 * Throws 400 `field label not supported: X` for other fields.
 */
export function parseFieldSelector(input: string, supported: ReadonlySet<string>): FieldRequirement[] {
  const fail = (reason: string): Error => selectorError('fieldSelector', input, reason);
  if (input.trim() === '') return [];
  return splitUnescaped(input, ',').map((term) => {
    const match = /^(.*?)(!=|==|=)(.*)$/s.exec(term);
    if (match === null) throw fail(`"${term}" is not of the form field=value, field==value or field!=value`);
    const field = match[1]!.trim();
    if (!supported.has(field)) throw badRequest(`field label not supported: ${field}`);
    const value = unescapeFieldValue(match[3]!.trim(), fail);
    return { field, operator: match[2] === '!=' ? 'notEquals' : 'equals', value };
  });
}

export function matchesFields(
  requirements: readonly FieldRequirement[],
  obj: ApiObject,
  extractors: Readonly<Record<string, (obj: ApiObject) => string | undefined>>,
): boolean {
  return requirements.every(({ field, operator, value }) => {
    const actual = extractors[field]?.(obj) ?? '';
    return operator === 'equals' ? actual === value : actual !== value;
  });
}
