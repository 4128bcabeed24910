/**
 * Human units on the command line: sizes like `1MiB`, `512k`, `2MB`, and durations like `10s`,
 * `250ms`, `1m`. A bare number is bytes or milliseconds.
 */
import { InvalidArgumentError } from '../errors.js';

const SIZES: Record<string, number> = {
  '': 1,
  b: 1,
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

const DURATIONS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

function parse(option: string, value: string, units: Record<string, number>, example: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = match?.[2]?.toLowerCase() ?? '';
  const scale = units[unit];
  if (!match || scale === undefined) {
    throw new InvalidArgumentError(`${option}: cannot read "${value}" (write it like ${example})`);
  }
  return Math.round(Number(match[1]) * scale);
}

/** Bytes from `1MiB`, `64k`, `1048576`, … */
export function parseBytes(option: string, value: string): number {
  return parse(option, value, SIZES, '1MiB, 512KiB or 1048576');
}

/** Milliseconds from `10s`, `250ms`, `1m`, … */
export function parseDuration(option: string, value: string): number {
  return parse(option, value, DURATIONS, '10s, 250ms or 1m');
}
