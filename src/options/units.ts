/**
 * Option values as people write them, on the command line: sizes like `1MiB`, `512k`, `2MB`,
 * durations like `10s`, `250ms`, `1m`, `5 minutes` (a bare number is bytes or milliseconds, as in
 * the library's options), counts and ports. Each parser throws {@link InvalidArgumentError} naming
 * the option and showing how to write it; {@link UNITS_HELP} says the same in the commands' help.
 */
import { InvalidArgumentError } from '../errors.js';

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  byte: 1,
  bytes: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

const DURATION_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  ms: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
};

/** How sizes and times are written, for the commands' `--help`. */
export const UNITS_HELP = `Sizes take units: 1MiB, 512KiB, 64k, 2MB (a bare number is bytes).
Times take units: 10s, 250ms, 1m, '5 minutes' (a bare number is milliseconds: --timeout 10 is 10 ms).`;

/** The largest TCP port. */
const MAX_PORT = 65535;

/** Bytes from `1MiB`, `64k`, `1048576`, … */
export function parseBytes(option: string, value: string): number {
  return parseWithUnit(option, value, SIZE_UNITS, '1MiB, 512KiB or 1048576');
}

/** Milliseconds from `10s`, `250ms`, `1m`, … */
export function parseDuration(option: string, value: string): number {
  return parseWithUnit(option, value, DURATION_UNITS, '10s, 250ms or 1m');
}

/** A whole number of at least `min` (processes, instances). */
export function parseCount(option: string, value: string, min = 0): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new InvalidArgumentError(`${option} ${value}: expected a whole number${min > 0 ? ` of at least ${min}` : ''}`);
  }
  return n;
}

/** A TCP port, 0 to 65535 (0: the system picks a free one). */
export function parsePort(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_PORT) throw new InvalidArgumentError(`${option} ${value}: expected a port number`);
  return n;
}

function parseWithUnit(option: string, value: string, units: Readonly<Record<string, number>>, example: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = match?.[2]?.toLowerCase() ?? '';
  const scale = units[unit];
  if (!match || scale === undefined) {
    throw new InvalidArgumentError(`${option}: cannot read "${value}" (write it like ${example})`);
  }
  return Math.round(Number(match[1]) * scale);
}
