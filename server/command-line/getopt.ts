/*
 * getopt_long as memcached calls it: short clusters, long names and their unambiguous
 * prefixes, and getopt's own messages for an unknown option or a missing argument.
 */

import { OptionError } from './errors';
import { OPTIONS, type OptionSpec, PROGRAM } from './table';

interface ParsedOption {
  spec: OptionSpec;
  value: string | null;
}

/** Yields options in command-line order, as getopt_long hands them to memcached. */
export function* readOptions(argv: readonly string[]): Generator<ParsedOption> {
  let index = 0;
  while (index < argv.length) {
    const arg = argv[index++];
    // getopt stops at `--`; what follows, like any other non-option, memcached never reads.
    if (arg === '--') return;
    if (arg.startsWith('--')) {
      const equals = arg.indexOf('=');
      const name = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
      const inline = equals < 0 ? null : arg.slice(equals + 1);
      const spec = findLongOption(name, arg);
      if (spec.argument === 'none') {
        if (inline !== null) throw new OptionError(`${PROGRAM}: option '--${spec.long}' doesn't allow an argument`);
        yield { spec, value: null };
      } else if (spec.argument === 'optional') {
        // An optional argument only ever comes after '='; the next word is not taken.
        yield { spec, value: inline };
      } else if (inline !== null) {
        yield { spec, value: inline };
      } else if (index < argv.length) {
        yield { spec, value: argv[index++] };
      } else {
        throw new OptionError(`${PROGRAM}: option '--${spec.long}' requires an argument`);
      }
      continue;
    }
    if (arg.length < 2 || arg[0] !== '-') continue;
    // A cluster of short options: flags, then at most one that takes the rest (or the next word).
    for (let at = 1; at < arg.length; at++) {
      const letter = arg[at];
      const spec = OPTIONS.find((option) => option.short === letter);
      if (spec === undefined) throw new OptionError(`${PROGRAM}: invalid option -- '${letter}'`);
      if (spec.argument !== 'required') {
        yield { spec, value: null };
        continue;
      }
      if (at + 1 < arg.length) {
        yield { spec, value: arg.slice(at + 1) };
      } else if (index < argv.length) {
        yield { spec, value: argv[index++] };
      } else {
        throw new OptionError(`${PROGRAM}: option requires an argument -- '${letter}'`);
      }
      break;
    }
  }
}

function findLongOption(name: string, arg: string): OptionSpec {
  const exact = OPTIONS.find((option) => option.long === name);
  if (exact !== undefined) return exact;
  const candidates = name === '' ? [] : OPTIONS.filter((option) => option.long !== null && option.long.startsWith(name));
  if (candidates.length === 1) return candidates[0];
  if (candidates.length > 1) {
    const possibilities = candidates.map((option) => `'--${option.long}'`).join(' ');
    throw new OptionError(`${PROGRAM}: option '${arg}' is ambiguous; possibilities: ${possibilities}`);
  }
  throw new OptionError(`${PROGRAM}: unrecognized option '${arg}'`);
}
