// Generates random text-protocol command sequences from a seed. Each
// sequence works on three keys of its own, so sequences can run side by side
// on one server, and mixes hits, misses, CAS conflicts, appends, incr and
// decr on numbers and non-numbers, noreply variants and malformed lines.
// Nothing depends on time: exptimes are 0, negative, or far in the future.
// Also left out are inputs where two memcacheds can disagree (see
// notes/memcached.md §11): numbers of 2^63 and up, empty or all-blank
// values (incr reads past them), a get with a too-long key among pipelined
// commands.
import { Prng } from './prng';

/** Where a `cas` command's CAS value comes from, resolved on each server. */
export type CasSource =
  | { kind: 'latest'; key: string } // the last CAS this server showed for the key
  | { kind: 'seen'; ordinal: number } // the n-th distinct CAS this server showed in this sequence
  | { kind: 'literal'; value: string };

export interface SequenceCommand {
  /** The bytes to send; `{cas}` stands for the resolved CAS value. */
  text: string;
  cas?: CasSource;
  /** How many replies memcached sends. */
  replies: number;
}

export const CAS_PLACEHOLDER = '{cas}';

const FAR_FUTURE_RELATIVE = 1000000; // ~11.6 days: relative, and never reached during a run

function exptime(prng: Prng): string {
  const choice = prng.int(0, 19);
  if (choice <= 12) return '0';
  if (choice <= 16) return String(FAR_FUTURE_RELATIVE);
  if (choice === 17) return '-1';
  return String(Math.floor(Date.now() / 1000) + 86400 * 365); // absolute, a year ahead
}

function flags(prng: Prng): string {
  return prng.pick(['0', '0', '0', '1', '42', '65535', '4294967295']);
}

const WORD_BYTES = 'abcdefghijklmnopqrstuvwxyz0123456789-_';

function value(prng: Prng): string {
  switch (prng.int(0, 11)) {
    case 0:
    case 1:
    case 2:
    case 10:
    case 11:
      return String(prng.int(0, 1000));
    case 3:
      return String(prng.int(0, 2 ** 31));
    case 4:
      return prng.pick(['abc', 'x1', '12a', ' 5', '7 ', '-3', '0007', '+9']);
    case 5:
      return prng.pick(['z', 'Q', '.']);
    case 6:
      return 'line\r\nwith\r\nbreaks';
    default: {
      let text = '';
      const length = prng.int(1, 40);
      for (let i = 0; i < length; i++) text += WORD_BYTES[prng.int(0, WORD_BYTES.length - 1)];
      return text;
    }
  }
}

function noreply(prng: Prng): boolean {
  return prng.chance(0.2);
}

/**
 * Data for append and prepend. Never all digits: digits added to a number
 * could make it 2^63 or more, where memcached's incr scans past the value.
 */
function addedValue(prng: Prng): string {
  for (;;) {
    const data = value(prng);
    if (!/^\d+$/.test(data)) return data;
  }
}

function storage(prng: Prng, command: string, key: string): SequenceCommand {
  const data = command === 'append' || command === 'prepend' ? addedValue(prng) : value(prng);
  const quiet = noreply(prng);
  return {
    text: `${command} ${key} ${flags(prng)} ${exptime(prng)} ${data.length}${quiet ? ' noreply' : ''}\r\n${data}\r\n`,
    replies: quiet ? 0 : 1,
  };
}

function keyList(prng: Prng, keys: string[]): string {
  const count = prng.int(1, 4);
  return Array.from({ length: count }, () => prng.pick(keys)).join(' ');
}

function malformed(prng: Prng, key: string, pipelined: boolean): SequenceCommand {
  const longKey = 'x'.repeat(251);
  // A get with a too-long key drops the replies memcached still holds for
  // earlier commands of the same packet (see text-retrieval), so pipelined
  // sequences leave it out.
  const getWithLongKey: SequenceCommand[] = pipelined ? [] : [{ text: `get ${key} ${longKey}\r\n`, replies: 1 }];
  return prng.pick<SequenceCommand>([
    ...getWithLongKey,
    { text: 'bogus command\r\n', replies: 1 },
    { text: `incr ${key}\r\n`, replies: 1 },
    { text: `set ${key} 0 0 2\r\nabc\r\n`, replies: 2 },
    { text: `delete ${key} 5\r\n`, replies: 1 },
    { text: `touch ${key} abc\r\n`, replies: 1 },
    { text: `incr ${key} abc\r\n`, replies: 1 },
    { text: `decr ${key} -1\r\n`, replies: 1 },
    { text: `set ${longKey} 0 0 1\r\na\r\n`, replies: 2 },
    { text: `set ${key} abc 0 1\r\na\r\n`, replies: 2 },
    { text: `set ${key} 0 0 -1\r\n`, replies: 1 },
    { text: `cas ${key} 0 0 1\r\na\r\n`, replies: 2 },
    { text: `gat abc ${key}\r\n`, replies: 1 },
    { text: '\r\n', replies: 1 },
  ]);
}

/**
 * The commands of sequence `index` under `seed`; keys start with `prefix`.
 * `pipelined` sequences are sent many commands at a time.
 */
export function generateSequence(seed: number, index: number, prefix: string, pipelined = false): SequenceCommand[] {
  const prng = new Prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const keys = [0, 1, 2].map((k) => `${prefix}k${k}`);
  const commands: SequenceCommand[] = [];
  // Most keys start out stored, so hits are as common as misses.
  for (const key of keys) {
    if (prng.chance(0.7)) {
      const data = prng.chance(0.6) ? String(prng.int(0, 1000)) : value(prng);
      commands.push({ text: `set ${key} ${flags(prng)} 0 ${data.length}\r\n${data}\r\n`, replies: 1 });
    }
  }
  const length = prng.int(10, 30);
  let casSeen = 0; // an upper bound on distinct CAS values shown so far
  for (let i = 0; i < length; i++) {
    const key = prng.pick(keys);
    const roll = prng.int(0, 99);
    if (roll < 14) commands.push(storage(prng, 'set', key));
    else if (roll < 20) commands.push(storage(prng, 'add', key));
    else if (roll < 25) commands.push(storage(prng, 'replace', key));
    else if (roll < 31) commands.push(storage(prng, 'append', key));
    else if (roll < 35) commands.push(storage(prng, 'prepend', key));
    else if (roll < 46) {
      // Half the time, fetch the CAS value right before using it.
      if (prng.chance(0.5)) {
        commands.push({ text: `gets ${key}\r\n`, replies: 1 });
        casSeen += 1;
      }
      const data = value(prng);
      const quiet = noreply(prng);
      const sourceRoll = prng.int(0, 9);
      const cas: CasSource =
        sourceRoll < 7 || casSeen === 0
          ? { kind: 'latest', key }
          : sourceRoll < 9
            ? { kind: 'seen', ordinal: prng.int(1, casSeen) }
            : { kind: 'literal', value: prng.pick(['0', '99999999999', '18446744073709551615']) };
      commands.push({
        text: `cas ${key} ${flags(prng)} ${exptime(prng)} ${data.length} ${CAS_PLACEHOLDER}${quiet ? ' noreply' : ''}\r\n${data}\r\n`,
        cas,
        replies: quiet ? 0 : 1,
      });
    } else if (roll < 53) commands.push({ text: `get ${keyList(prng, keys)}\r\n`, replies: 1 });
    else if (roll < 64) {
      const list = keyList(prng, keys);
      casSeen += list.split(' ').length;
      commands.push({ text: `gets ${list}\r\n`, replies: 1 });
    } else if (roll < 67) {
      commands.push({ text: `gat ${exptime(prng)} ${keyList(prng, keys)}\r\n`, replies: 1 });
    } else if (roll < 70) {
      const list = keyList(prng, keys);
      casSeen += list.split(' ').length;
      commands.push({ text: `gats ${exptime(prng)} ${list}\r\n`, replies: 1 });
    } else if (roll < 76) {
      const quiet = noreply(prng);
      const zero = prng.chance(0.2) ? ' 0' : '';
      commands.push({ text: `delete ${key}${zero}${quiet ? ' noreply' : ''}\r\n`, replies: quiet ? 0 : 1 });
    } else if (roll < 88) {
      const quiet = noreply(prng);
      const command = prng.chance(0.6) ? 'incr' : 'decr';
      const delta = prng.pick(['0', '1', '1', '2', '10', '99', '1000', String(prng.int(0, 2 ** 31))]);
      commands.push({ text: `${command} ${key} ${delta}${quiet ? ' noreply' : ''}\r\n`, replies: quiet ? 0 : 1 });
    } else if (roll < 93) {
      const quiet = noreply(prng);
      commands.push({ text: `touch ${key} ${exptime(prng)}${quiet ? ' noreply' : ''}\r\n`, replies: quiet ? 0 : 1 });
    } else {
      commands.push(malformed(prng, key, pipelined));
    }
  }
  // End with a look at every key, so the final state is compared too.
  commands.push({ text: `gets ${keys.join(' ')}\r\n`, replies: 1 });
  return commands;
}

export function describeCasSource(source: CasSource): string {
  switch (source.kind) {
    case 'latest':
      return `<latest CAS of ${source.key}>`;
    case 'seen':
      return `<CAS #${source.ordinal} of this sequence>`;
    case 'literal':
      return source.value;
  }
}
