// Generates random request sequences that mix the text, meta and binary
// protocols over one small set of keys, each protocol meant for its own
// connection to the same server. Requests are plain data: text and meta ones
// are the bytes to send, binary ones the fields of a packet; a CAS a request
// sends back is a CasSource, resolved on each server from what that server
// showed earlier, in any of the three protocols.
//
// Left out, because two memcacheds can disagree on them (notes/memcached.md
// §11): numbers of 2^63 and up, incr on empty values (mg N creates one, so a
// key it may have touched gets no arithmetic until a store makes it non-empty),
// and every flag that reads the clock or the LRU: mg `l` and `R` never, and
// `t` only in sequences whose TTLs are 0 or already past, and never in a
// request that also sets a TTL other than 0 (the TTL remaining would then
// depend on when the second ticks, or wrap around with the server's uptime).
import { Prng } from './prng';
import { Op, arithExtras, storeExtras, u32 } from './binary';
import { CAS_PLACEHOLDER, describeCasSource, type CasSource } from './sequences';

export type Protocol = 'text' | 'meta' | 'binary';

export const PROTOCOLS: readonly Protocol[] = ['text', 'meta', 'binary'];

/** A binary request packet, its CAS field still to be resolved per server. */
export interface BinaryRequestFields {
  opcode: number;
  key?: string;
  extras?: Buffer;
  value?: string;
  opaque: number;
}

export interface MixedRequest {
  protocol: Protocol;
  /** The key a CAS in the reply belongs to; undefined when the reply names its keys (text gets). */
  key?: string;
  /** Text and meta requests: the bytes to send, `{cas}` standing for the resolved CAS. */
  text?: string;
  binary?: BinaryRequestFields;
  /** The CAS sent: in place of `{cas}`, or in the binary header. */
  cas?: CasSource;
}

/** Relative, about 11.6 days: never reached during a run. */
const FAR_FUTURE_RELATIVE = 1000000;
/** Absolute, in 1973: before any server started, so an item given it is expired at once. */
const PAST_ABSOLUTE = 100000000;
/** Binary incr/decr expiration meaning "do not create a missing item". */
export const NO_CREATE = 0xffffffff;

const WORD_BYTES = 'abcdefghijklmnopqrstuvwxyz0123456789-_';
const FLAGS = [0, 0, 0, 1, 42, 65535, 4294967295];
const DELTAS = ['0', '1', '1', '2', '10', '99', '1000'];
const CAS_LITERALS = ['0', '99999999999', '18446744073709551615'];

const OPCODE_NAMES = new Map<number, string>(Object.entries(Op).map(([name, code]) => [code, name]));

function shuffled<T>(prng: Prng, items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.int(0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

class MixedSequenceBuilder {
  readonly requests: MixedRequest[] = [];
  readonly keys: string[];
  /**
   * Whether this sequence may ask for remaining TTLs (mg/ma `t`). If so, every
   * TTL it sets is 0 or already past; if not, TTLs also lie far ahead.
   */
  readonly showsTtl: boolean;
  /** Keys that may hold the empty item mg N creates: no incr, decr or ma for them. */
  private readonly mayBeEmpty = new Set<string>();
  /** An upper bound on the distinct CAS values shown so far. */
  private casShown = 0;

  constructor(
    private readonly prng: Prng,
    prefix: string,
  ) {
    this.keys = [0, 1, 2].map((k) => `${prefix}k${k}`);
    this.showsTtl = prng.chance(0.5);
  }

  // ---- values --------------------------------------------------------------------------------

  value(): string {
    const prng = this.prng;
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

  /** Data for append and prepend: never all digits, so no number grows to 2^63. */
  addedValue(): string {
    for (;;) {
      const data = this.value();
      if (!/^\d+$/.test(data)) return data;
    }
  }

  flags(): number {
    return this.prng.pick(FLAGS);
  }

  delta(): string {
    return this.prng.chance(0.85) ? this.prng.pick(DELTAS) : String(this.prng.int(0, 2 ** 31));
  }

  /** A text or meta TTL. */
  ttl(): string {
    const roll = this.prng.int(0, 19);
    if (roll <= 12) return '0';
    if (this.showsTtl || roll === 17) return this.prng.pick(['-1', String(PAST_ABSOLUTE)]);
    if (roll <= 16) return String(FAR_FUTURE_RELATIVE);
    return String(Math.floor(Date.now() / 1000) + 86400 * 365); // absolute, a year ahead
  }

  /** A binary TTL: unsigned, so "past" is an absolute time. */
  binaryTtl(): number {
    const text = this.ttl();
    return text === '-1' ? PAST_ABSOLUTE : Number(text);
  }

  opaque(): number {
    return this.prng.int(0, 0xffffffff);
  }

  casSource(key: string): CasSource {
    const roll = this.prng.int(0, 9);
    if (roll < 7 || this.casShown === 0) return { kind: 'latest', key };
    if (roll < 9) return { kind: 'seen', ordinal: this.prng.int(1, this.casShown) };
    return { kind: 'literal', value: this.prng.pick(CAS_LITERALS) };
  }

  // ---- bookkeeping ---------------------------------------------------------------------------

  push(request: MixedRequest, showsCas = 0): void {
    this.requests.push(request);
    this.casShown += showsCas;
  }

  /** A store that leaves the key non-empty or missing (unconditional, not add). */
  stored(key: string): void {
    this.mayBeEmpty.delete(key);
  }

  arithmeticAllowed(key: string): boolean {
    return !this.mayBeEmpty.has(key);
  }

  // ---- text ----------------------------------------------------------------------------------

  textStorage(key: string): void {
    const prng = this.prng;
    const command = prng.pick(['set', 'set', 'add', 'replace', 'append', 'prepend', 'cas']);
    const data = command === 'append' || command === 'prepend' ? this.addedValue() : this.value();
    const noreply = prng.chance(0.2) ? ' noreply' : '';
    if (command === 'cas') {
      this.maybeFetchCas(key);
      this.push({
        protocol: 'text',
        key,
        text: `cas ${key} ${this.flags()} ${this.ttl()} ${data.length} ${CAS_PLACEHOLDER}${noreply}\r\n${data}\r\n`,
        cas: this.casSource(key),
      });
      return;
    }
    if (command !== 'add') this.stored(key);
    this.push({ protocol: 'text', key, text: `${command} ${key} ${this.flags()} ${this.ttl()} ${data.length}${noreply}\r\n${data}\r\n` });
  }

  keyList(): string[] {
    return Array.from({ length: this.prng.int(1, 3) }, () => this.prng.pick(this.keys));
  }

  text(key: string): void {
    const prng = this.prng;
    const roll = prng.int(0, 99);
    const noreply = prng.chance(0.2) ? ' noreply' : '';
    if (roll < 35) this.textStorage(key);
    else if (roll < 45) this.push({ protocol: 'text', text: `get ${this.keyList().join(' ')}\r\n` });
    else if (roll < 55) {
      const list = this.keyList();
      this.push({ protocol: 'text', text: `gets ${list.join(' ')}\r\n` }, list.length);
    } else if (roll < 60) {
      const list = this.keyList();
      const command = prng.pick(['gat', 'gats']);
      this.push({ protocol: 'text', text: `${command} ${this.ttl()} ${list.join(' ')}\r\n` }, command === 'gats' ? list.length : 0);
    } else if (roll < 68) {
      this.stored(key);
      this.push({ protocol: 'text', key, text: `delete ${key}${noreply}\r\n` });
    } else if (roll < 84) {
      if (!this.arithmeticAllowed(key)) return this.text(key);
      this.push({ protocol: 'text', key, text: `${prng.pick(['incr', 'decr'])} ${key} ${this.delta()}${noreply}\r\n` });
    } else if (roll < 92) {
      this.push({ protocol: 'text', key, text: `touch ${key} ${this.ttl()}${noreply}\r\n` });
    } else {
      // Errors whose leftovers memcached answers in a known way (no data block is waited for).
      this.push({
        protocol: 'text',
        key,
        text: prng.pick([
          'bogus command\r\n',
          `incr ${key} abc\r\n`,
          `decr ${key} -1\r\n`,
          `touch ${key} abc\r\n`,
          `set ${key} abc 0 1\r\na\r\n`,
          `set ${key} 0 0 2\r\nabc\r\n`,
          `gat abc ${key}\r\n`,
        ]),
      });
    }
  }

  // ---- meta ----------------------------------------------------------------------------------

  /** `O` with a random opaque, `k`, `q`: the flags every meta command takes. */
  commonMetaFlags(): string[] {
    const prng = this.prng;
    const flags: string[] = [];
    if (prng.chance(0.3)) flags.push(`O${prng.int(0, 99999)}`);
    if (prng.chance(0.3)) flags.push('k');
    if (prng.chance(0.2)) flags.push('q');
    return flags;
  }

  /** TTL tokens next to `t`: 0 only, see the file comment. */
  metaTtl(withRemainingTtl: boolean): string {
    return withRemainingTtl ? '0' : this.ttl();
  }

  metaGet(key: string): void {
    const prng = this.prng;
    const flags = this.commonMetaFlags();
    const remainingTtl = this.showsTtl && prng.chance(0.3);
    if (remainingTtl) flags.push('t');
    if (prng.chance(0.7)) flags.push('v');
    if (prng.chance(0.4)) flags.push('c');
    if (prng.chance(0.3)) flags.push('f');
    if (prng.chance(0.2)) flags.push('s');
    if (prng.chance(0.1)) flags.push('h');
    if (prng.chance(0.1)) flags.push('u');
    if (prng.chance(0.15)) flags.push(`T${this.metaTtl(remainingTtl)}`);
    if (prng.chance(0.15)) {
      flags.push(`N${this.metaTtl(remainingTtl)}`);
      this.mayBeEmpty.add(key);
    }
    this.push(
      { protocol: 'meta', key, text: `mg ${key}${flags.length ? ' ' : ''}${shuffled(prng, flags).join(' ')}\r\n` },
      flags.includes('c') ? 1 : 0,
    );
  }

  metaSet(key: string): void {
    const prng = this.prng;
    const flags = this.commonMetaFlags();
    const mode = prng.chance(0.4) ? prng.pick(['E', 'A', 'P', 'R', 'S']) : '';
    const data = mode === 'A' || mode === 'P' ? this.addedValue() : this.value();
    if (mode) flags.push(`M${mode}`);
    if (prng.chance(0.5)) flags.push(`F${this.flags()}`);
    if (prng.chance(0.3)) flags.push(`T${this.ttl()}`);
    if (prng.chance(0.4)) flags.push('c');
    let cas: CasSource | undefined;
    if (prng.chance(0.25)) {
      this.maybeFetchCas(key);
      cas = this.casSource(key);
      flags.push(`C${CAS_PLACEHOLDER}`);
      if (prng.chance(0.3)) flags.push('I');
    } else if (mode !== 'E') this.stored(key);
    this.push(
      {
        protocol: 'meta',
        key,
        text: `ms ${key} ${data.length}${flags.length ? ' ' : ''}${shuffled(prng, flags).join(' ')}\r\n${data}\r\n`,
        cas,
      },
      flags.includes('c') ? 1 : 0,
    );
  }

  metaDelete(key: string): void {
    const prng = this.prng;
    const flags = this.commonMetaFlags();
    let cas: CasSource | undefined;
    if (prng.chance(0.25)) {
      this.maybeFetchCas(key);
      cas = this.casSource(key);
      flags.push(`C${CAS_PLACEHOLDER}`);
    }
    if (prng.chance(0.3)) {
      // Marks the item stale instead of deleting it.
      flags.push('I');
      if (prng.chance(0.5)) flags.push(`T${this.ttl()}`);
    } else if (!cas) this.stored(key);
    this.push({ protocol: 'meta', key, text: `md ${key}${flags.length ? ' ' : ''}${shuffled(prng, flags).join(' ')}\r\n`, cas });
  }

  metaArithmetic(key: string): void {
    const prng = this.prng;
    const flags = this.commonMetaFlags();
    const remainingTtl = this.showsTtl && prng.chance(0.3);
    if (remainingTtl) flags.push('t');
    if (prng.chance(0.4)) flags.push(`M${prng.pick(['I', '+', 'D', '-'])}`);
    if (prng.chance(0.6)) flags.push(`D${this.delta()}`);
    if (prng.chance(0.3)) flags.push(`N${this.metaTtl(remainingTtl)}`);
    if (prng.chance(0.3)) flags.push(`J${prng.chance(0.8) ? prng.int(0, 1000) : prng.int(0, 2 ** 31)}`);
    if (prng.chance(0.15)) flags.push(`T${this.metaTtl(remainingTtl)}`);
    if (prng.chance(0.5)) flags.push('v');
    if (prng.chance(0.4)) flags.push('c');
    let cas: CasSource | undefined;
    if (prng.chance(0.2)) {
      this.maybeFetchCas(key);
      cas = this.casSource(key);
      flags.push(`C${CAS_PLACEHOLDER}`);
    }
    this.push(
      { protocol: 'meta', key, text: `ma ${key}${flags.length ? ' ' : ''}${shuffled(prng, flags).join(' ')}\r\n`, cas },
      flags.includes('c') ? 1 : 0,
    );
  }

  meta(key: string): void {
    const prng = this.prng;
    const roll = prng.int(0, 99);
    if (roll < 35) this.metaGet(key);
    else if (roll < 65) this.metaSet(key);
    else if (roll < 77) this.metaDelete(key);
    else if (roll < 93) {
      if (!this.arithmeticAllowed(key)) return this.meta(key);
      this.metaArithmetic(key);
    } else if (roll < 95) this.push({ protocol: 'meta', text: 'mn\r\n' });
    else {
      this.push({
        protocol: 'meta',
        key,
        text: prng.pick([`mg ${key} v v\r\n`, `ma ${key} Dx\r\n`, `ms ${key} 1 MX\r\nh\r\n`, `mg ${key} Nx\r\n`, `ma ${key} MZ\r\n`]),
      });
    }
  }

  // ---- binary --------------------------------------------------------------------------------

  binaryRequest(fields: Omit<BinaryRequestFields, 'opaque'>, cas?: CasSource, showsCas = 0): void {
    this.push({ protocol: 'binary', key: fields.key, binary: { ...fields, opaque: this.opaque() }, cas }, showsCas);
  }

  /** A CAS to send back a third of the time. */
  maybeBinaryCas(key: string): CasSource | undefined {
    if (!this.prng.chance(0.3)) return undefined;
    this.maybeFetchCas(key);
    return this.casSource(key);
  }

  binary(key: string): void {
    const prng = this.prng;
    const quiet = prng.chance(0.3);
    const roll = prng.int(0, 99);
    if (roll < 30) {
      const command = prng.pick(['Set', 'Set', 'Add', 'Replace'] as const);
      const opcode = quiet ? { Set: Op.SetQ, Add: Op.AddQ, Replace: Op.ReplaceQ }[command] : Op[command];
      const cas = this.maybeBinaryCas(key);
      if (!cas && command !== 'Add') this.stored(key);
      this.binaryRequest({ opcode, key, extras: storeExtras(this.flags(), this.binaryTtl()), value: this.value() }, cas, 1);
    } else if (roll < 50) {
      const opcode = prng.pick([Op.Get, Op.GetK, Op.GetQ, Op.GetKQ]);
      this.binaryRequest({ opcode, key }, undefined, 1);
    } else if (roll < 58) {
      const cas = this.maybeBinaryCas(key);
      if (!cas) this.stored(key);
      this.binaryRequest({ opcode: quiet ? Op.DeleteQ : Op.Delete, key }, cas);
    } else if (roll < 74) {
      if (!this.arithmeticAllowed(key)) return this.binary(key);
      const incr = prng.chance(0.6);
      const opcode = incr ? (quiet ? Op.IncrementQ : Op.Increment) : quiet ? Op.DecrementQ : Op.Decrement;
      const initial = BigInt(prng.chance(0.8) ? prng.int(0, 1000) : prng.int(0, 2 ** 31));
      const expiration = prng.chance(0.3) ? NO_CREATE : this.binaryTtl();
      this.binaryRequest({ opcode, key, extras: arithExtras(BigInt(this.delta()), initial, expiration) }, this.maybeBinaryCas(key), 1);
    } else if (roll < 84) {
      const append = prng.chance(0.5);
      const opcode = append ? (quiet ? Op.AppendQ : Op.Append) : quiet ? Op.PrependQ : Op.Prepend;
      const cas = this.maybeBinaryCas(key);
      if (!cas) this.stored(key);
      this.binaryRequest({ opcode, key, value: this.addedValue() }, cas, 1);
    } else if (roll < 90) {
      this.binaryRequest({ opcode: Op.Touch, key, extras: u32(this.binaryTtl()) }, undefined, 1);
    } else if (roll < 97) {
      const opcode = prng.pick([Op.Gat, Op.GatQ, Op.GatK, Op.GatKQ]);
      this.binaryRequest({ opcode, key, extras: u32(this.binaryTtl()) }, undefined, 1);
    } else {
      this.binaryRequest({ opcode: Op.Noop });
    }
  }

  // ---- CAS fetches ---------------------------------------------------------------------------

  /** Half the time, fetch the key's CAS (in any protocol) right before sending one back. */
  maybeFetchCas(key: string): void {
    if (!this.prng.chance(0.5)) return;
    switch (this.prng.pick(PROTOCOLS)) {
      case 'text':
        this.push({ protocol: 'text', text: `gets ${key}\r\n` }, 1);
        return;
      case 'meta':
        this.push({ protocol: 'meta', key, text: `mg ${key} c\r\n` }, 1);
        return;
      case 'binary':
        this.binaryRequest({ opcode: Op.GetK, key }, undefined, 1);
        return;
    }
  }
}

/**
 * The requests of mixed sequence `index` under `seed`; its keys start with
 * `prefix`. Each request goes to the connection of its protocol.
 */
export function generateMixedSequence(seed: number, index: number, prefix: string): MixedRequest[] {
  const prng = new Prng((seed ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  const builder = new MixedSequenceBuilder(prng, prefix);
  // Most keys start out stored, each by a protocol of its own.
  for (const key of builder.keys) {
    if (!prng.chance(0.7)) continue;
    const data = prng.chance(0.6) ? String(prng.int(0, 1000)) : builder.value();
    const flags = builder.flags();
    switch (prng.pick(PROTOCOLS)) {
      case 'text':
        builder.push({ protocol: 'text', key, text: `set ${key} ${flags} 0 ${data.length}\r\n${data}\r\n` });
        break;
      case 'meta':
        builder.push({ protocol: 'meta', key, text: `ms ${key} ${data.length} F${flags}\r\n${data}\r\n` });
        break;
      case 'binary':
        builder.binaryRequest({ opcode: Op.Set, key, extras: storeExtras(flags, 0), value: data }, undefined, 1);
        break;
    }
  }
  const length = prng.int(15, 40);
  for (let i = 0; i < length; i++) {
    const key = prng.pick(builder.keys);
    switch (prng.pick(PROTOCOLS)) {
      case 'text':
        builder.text(key);
        break;
      case 'meta':
        builder.meta(key);
        break;
      case 'binary':
        builder.binary(key);
        break;
    }
  }
  // End with a look at every key from each protocol, so the final state is compared too.
  builder.push({ protocol: 'text', text: `gets ${builder.keys.join(' ')}\r\n` }, 3);
  for (const key of builder.keys) {
    builder.push({ protocol: 'meta', key, text: `mg ${key} k v f c s${builder.showsTtl ? ' t' : ''}\r\n` }, 1);
    builder.binaryRequest({ opcode: Op.GetK, key }, undefined, 1);
  }
  return builder.requests;
}

/** The request as a readable line, its CAS shown as where it comes from. */
export function describeMixedRequest(request: MixedRequest): string {
  const cas = request.cas ? describeCasSource(request.cas) : undefined;
  if (request.text !== undefined) {
    const text = cas === undefined ? request.text : request.text.replace(CAS_PLACEHOLDER, cas);
    return `${request.protocol}: ${JSON.stringify(text).slice(1, -1)}`;
  }
  const fields = request.binary!;
  const parts = [`binary: ${OPCODE_NAMES.get(fields.opcode) ?? fields.opcode.toString(16)}`];
  if (fields.key !== undefined) parts.push(`key=${fields.key}`);
  if (fields.extras && fields.extras.length > 0) parts.push(`extras=${fields.extras.toString('hex')}`);
  if (fields.value !== undefined) parts.push(`value=${JSON.stringify(fields.value)}`);
  if (cas !== undefined) parts.push(`cas=${cas}`);
  parts.push(`opaque=${fields.opaque.toString(16).padStart(8, '0')}`);
  return parts.join(' ');
}
