// Kubernetes resource quantities ("500m", "2", "0.5", "128Mi", "1G", "1e3"), parsed exactly.
//
// Grammar (k8s.io/apimachinery/pkg/api/resource):
//   quantity ::= sign? number suffix?
//   number   ::= digits | digits "." digits? | "." digits
//   suffix   ::= Ki | Mi | Gi | Ti | Pi | Ei  (binary)  |  n | u | m | "" | k | M | G | T | P | E  (decimal)
//              | ("e" | "E") sign? digits  (decimal exponent)
// Values are kept as exact rationals (bigint) so "0.1" cpu is exactly 100 millicores.

/** An exact rational value: numerator / denominator, denominator > 0. */
export interface Quantity {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

/** The longest quantity string accepted (longer strings are garbage, not numbers). */
export const MAX_QUANTITY_LENGTH = 64;
/** Decimal exponents beyond this magnitude are rejected (they would only mean absurd values). */
const MAX_EXPONENT = 30;

const QUANTITY_RE = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE])?$/;

const BINARY_SUFFIX: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_SUFFIX: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/** The expected form, for error messages. */
export const QUANTITY_HINT = 'a quantity such as "500m", "2", "0.5", "128Mi", "1G" or "1e3"';

/**
 * Parse a quantity (a string, or a JSON number as YAML gives for `cpu: 2`).
 * Returns undefined for anything that is not a quantity (never throws).
 */
export function parseQuantity(input: string | number): Quantity | undefined {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return undefined;
    // Exponential notation of very large/small numbers is also valid quantity syntax.
    text = String(input);
  } else if (typeof input === 'string') {
    text = input;
  } else {
    return undefined;
  }
  if (text.length === 0 || text.length > MAX_QUANTITY_LENGTH) return undefined;
  const m = QUANTITY_RE.exec(text);
  if (!m) return undefined;
  const sign = m[1] === '-' ? -1n : 1n;
  const [whole = '', frac = ''] = (m[2] ?? '').split('.');
  let numerator = sign * BigInt((whole || '0') + frac);
  let denominator = 10n ** BigInt(frac.length);
  const suffix = m[3] ?? '';
  let exponent10 = 0;
  if (suffix in BINARY_SUFFIX) {
    numerator *= 2n ** BigInt(BINARY_SUFFIX[suffix] ?? 0);
  } else if (suffix in DECIMAL_SUFFIX) {
    exponent10 = DECIMAL_SUFFIX[suffix] ?? 0;
  } else if (suffix !== '') {
    exponent10 = Number(suffix.slice(1));
    if (!Number.isSafeInteger(exponent10) || Math.abs(exponent10) > MAX_EXPONENT) return undefined;
  }
  if (exponent10 > 0) numerator *= 10n ** BigInt(exponent10);
  else if (exponent10 < 0) denominator *= 10n ** BigInt(-exponent10);
  return { numerator, denominator };
}

/** ceil(q * scale) as a number (exact up to 2^53, approximate beyond: fine for bounds checks). */
export function quantityCeil(q: Quantity, scale = 1n): number {
  const n = q.numerator * scale;
  let v = n / q.denominator; // truncates toward zero
  if (n % q.denominator !== 0n && n > 0n) v += 1n;
  return Number(v);
}

/** CPU in millicores, rounded up (as Kubernetes does); undefined when not a quantity. */
export function parseCpuMillis(input: string | number): number | undefined {
  const q = parseQuantity(input);
  return q === undefined ? undefined : quantityCeil(q, 1000n);
}

/** Memory in bytes, rounded up; undefined when not a quantity. */
export function parseMemoryBytes(input: string | number): number | undefined {
  const q = parseQuantity(input);
  return q === undefined ? undefined : quantityCeil(q, 1n);
}

/** Millicores in canonical form: "500m", "2". */
export function formatCpuMillis(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** Bytes in the largest exact binary unit: "128Mi", "1Gi", "1500". */
export function formatMemoryBytes(bytes: number): string {
  const units: ReadonlyArray<[string, number]> = [
    ['Ei', 2 ** 60],
    ['Pi', 2 ** 50],
    ['Ti', 2 ** 40],
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ];
  for (const [unit, size] of units) {
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
