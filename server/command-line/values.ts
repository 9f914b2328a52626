/*
 * Option values read as memcached reads them: C's atoi, atof, strtod and strtol/strtoul,
 * with their quirks (`-c 10x` is 10, `-f x` is 0).
 */

import { MEGABYTE } from '../config';
import { UsageError } from './errors';
import { type OptionSpec, optionLabel } from './table';

/**
 * C's atoi, as memcached reads most numeric options: leading blanks, a sign, the digits
 * that follow; anything after them is ignored and no digits at all is 0. memcached's own
 * range checks then refuse what makes no sense (`-t abc` is "Number of threads must be
 * greater than 0").
 */
export function atoi(text: string): number {
  const match = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(text);
  if (match === null) return 0;
  return Number(BigInt.asIntN(32, BigInt(match[1])));
}

export function integerOption(spec: OptionSpec, text: string): number {
  return checkedInteger(optionLabel(spec), text);
}

export function checkedInteger(_label: string, text: string): number {
  return atoi(text);
}

const FLOAT_PREFIX = /^[ \t\n\v\f\r]*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)/;

/** C's atof: the longest number at the start (after blanks); 0 when there is none. */
export function atof(text: string): number {
  const match = FLOAT_PREFIX.exec(text);
  return match === null ? 0 : Number(match[1]);
}

/** memcached's safe_strtod: strtod, then nothing but blanks after the number. */
export function safeStrtod(text: string): number | null {
  const match = FLOAT_PREFIX.exec(text);
  if (match === null) return null;
  const rest = text.slice(match[0].length);
  if (rest !== '' && !/^[ \t\n\v\f\r]/.test(rest)) return null;
  return Number(match[1]);
}

export function octalOption(spec: OptionSpec, text: string): number {
  // Only the permission bits reach the socket (memcached masks with 0777).
  if (!/^[0-7]+$/.test(text) || parseInt(text, 8) > 0o777) {
    throw new UsageError(`Invalid value for ${optionLabel(spec)}: "${text}" (expected an octal mode such as 700)`);
  }
  return parseInt(text, 8);
}

export function megabytesOption(spec: OptionSpec, text: string): number {
  // memcached reads -m with atoi, so `-m 64m` means 64; other suffixes would be misread there.
  void spec;
  return atoi(text);
}

export function itemSizeOption(spec: OptionSpec, text: string): number {
  const last = text.slice(-1);
  const unit = last === 'k' || last === 'K' ? 1024 : last === 'm' || last === 'M' ? MEGABYTE : 1;
  const digits = unit === 1 ? text : text.slice(0, -1);
  void spec;
  // atoi times the unit in a C int, as memcached reads it, so 4096m wraps to 0; the limit
  // checks that follow name what is wrong.
  return Math.imul(atoi(digits), unit);
}

const INTEGER_PREFIX = /^[ \t\n\v\f\r]*([+-]?)(\d+)/;

/**
 * strtoul/strtol as memcached's safe_strtoul/safe_strtol use them: blanks, a sign, digits,
 * then only blanks; the value as a 64-bit long (null past its range) and whether it had a minus.
 */
export function strtolong(text: string, signed: boolean): { value: bigint; negative: boolean } | null {
  const match = INTEGER_PREFIX.exec(text);
  if (match === null) return null;
  const rest = text.slice(match[0].length);
  if (rest !== '' && !/^[ \t\n\v\f\r]/.test(rest)) return null;
  const magnitude = BigInt(match[2]);
  const negative = match[1] === '-';
  if (signed ? magnitude > (negative ? 2n ** 63n : 2n ** 63n - 1n) : magnitude > 2n ** 64n - 1n) return null;
  return { value: negative ? -magnitude : magnitude, negative };
}
