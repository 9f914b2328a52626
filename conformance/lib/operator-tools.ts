// Renders the output of memcached's operator tools for comparison: `lru_crawler
// metadump` lines, `memcached-tool` reports, `watch` log lines and -vv stderr.
// What two correct servers cannot share is replaced, each for a stated reason:
//
// - metadump exp= and la= are Unix times read from each server's own seconds clock:
//   la must be within RECENT_S of the test's clock and shows as `la=now`;
//   exp shows as `exp=la+N` (exact: both come from one reading) or stays -1.
// - CAS values (cas=) come from each server's counter: shown as their rank in the
//   dump, so equal and ordered values still compare.
// - watch ts= is wall-clock time (dropped); gid= counts every event the server logged
//   (checked to increase, then dropped); cfd= and `<fd`/`>fd` are descriptor numbers
//   (memcached's fds, recordcache's connection ids), renumbered by first appearance;
//   rport= is the client's ephemeral port (dropped).
// - memcached-tool: the address in its headers holds the port; age/time/pid/uptime
//   style values measure the process, not the cache (see lib/stats.ts); `dump` prints
//   keys in Perl's hash order (sorted here) with absolute expiry times (shown relative
//   to now, rounded to 100 s).
import assert from 'node:assert/strict';
import { CLOCK_TOLERANCE_S } from './transcript';
import { isRecordcacheOwn } from './stats';

export interface MetadumpFields {
  key: string;
  exp: number;
  la: number;
  cas: string;
  fetch: string;
  cls: string;
  size: string;
}

const METADUMP_LINE = /^key=(\S+) exp=(-?\d+) la=(\d+) cas=(\d+) fetch=(yes|no) cls=(\d+) size=(\d+)$/;

/** The lines of a metadump (LF-terminated, then END CRLF); other lines are kept as they are. */
export function parseMetadump(text: string): { entries: MetadumpFields[]; other: string[] } {
  const entries: MetadumpFields[] = [];
  const other: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    const m = METADUMP_LINE.exec(line);
    if (m === null) other.push(line);
    else entries.push({ key: m[1], exp: Number(m[2]), la: Number(m[3]), cas: m[4], fetch: m[5], cls: m[6], size: m[7] });
  }
  return { entries, other };
}

/** A last-access time counts as now within this many seconds of the moment the reply is rendered. */
const RECENT_S = 30;

function laText(la: number, now: number): string {
  return Math.abs(la - now) <= RECENT_S ? 'now' : `off-by-${Math.round(la - now)}s`;
}

/**
 * A metadump as comparable text. `sorted`: lines in key order (memcached's LRU order
 * depends on its background threads); otherwise in the order sent (hash order).
 */
export function renderMetadump(reply: Buffer, sorted: boolean, nowSeconds = Date.now() / 1000): string {
  const text = reply.toString('latin1');
  const { entries, other } = parseMetadump(text);
  const ranks = new Map(
    [...new Set(entries.map((e) => BigInt(e.cas)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((cas, i) => [cas, i + 1]),
  );
  const lines = entries.map(
    (e) =>
      `key=${e.key} exp=${e.exp === -1 ? '-1' : `la+${e.exp - e.la}`} la=${laText(e.la, nowSeconds)} cas=#${ranks.get(BigInt(e.cas))} fetch=${e.fetch} cls=${e.cls} size=${e.size}`,
  );
  if (sorted) lines.sort();
  // The line ends are part of the format: LF after each entry, CRLF after END.
  const ends = text.includes('\r\n') ? (/\r\n$/.test(text) ? 'ends CRLF' : 'no final CRLF') : 'no CRLF';
  const lfOnly = /key=[^\n]*\r\n/.test(text) ? 'entries CRLF' : 'entries LF';
  return [...lines, ...other, `(${lfOnly}, ${ends})`].join('\n');
}

/**
 * watch lines: `ts=` dropped, `gid=` checked to increase and dropped, `cfd=` renumbered,
 * `rport=` dropped. Returns the lines in order.
 */
export function renderWatchLines(text: string): string[] {
  const fds = new Map<string, string>();
  const fd = (raw: string): string => {
    let label = fds.get(raw);
    if (label === undefined) {
      label = `fd#${fds.size + 1}`;
      fds.set(raw, label);
    }
    return label;
  };
  let lastGid = 0;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line === 'OK\r') continue;
    const m = /^ts=\d+\.\d+ gid=(\d+) (.*)$/.exec(line);
    if (m === null) {
      out.push(`unexpected: ${line}`);
      continue;
    }
    const gid = Number(m[1]);
    assert.ok(gid > lastGid, `gid ${gid} after ${lastGid}: ${text}`);
    lastGid = gid;
    out.push(
      m[2]
        .replace(/ cfd=(\d+)/, (_all, raw: string) => ` cfd=${fd(raw)}`)
        .replace(/ clsid=(\d+)(.* cfd=fd#\d+ size=0)$/, (all, cls: string, rest: string) =>
          // memcached 1.6.18 logs a too-large store with its fd in clsid (event-log.ts).
          / status=too_large /.test(line) ? ` clsid=${fd(cls)}${rest}` : all,
        )
        .replace(/ rport=\d+/, ' rport=*'),
    );
  }
  return out;
}

/**
 * -vv stderr: descriptor numbers renumbered by first appearance. A connection that opened
 * and closed without a word (the harness's probe that the port accepts) is left out: when
 * it is printed relative to the test's own lines depends on scheduling.
 */
export function renderVerbose(all: string[]): string[] {
  const lines = all.filter((line, i) => {
    const opened = /^<(\d+) new /.exec(line);
    if (opened !== null && all[i + 1] === `<${opened[1]} connection closed.`) return false;
    const closed = /^<(\d+) connection closed\.$/.exec(line);
    return !(closed !== null && i > 0 && new RegExp(`^<${closed[1]} new `).test(all[i - 1]));
  });
  const fds = new Map<string, string>();
  const fd = (raw: string): string => {
    let label = fds.get(raw);
    if (label === undefined) {
      label = `fd#${fds.size + 1}`;
      fds.set(raw, label);
    }
    return label;
  };
  return lines.map((line) =>
    line
      .replace(/^([<>])(\d+)/, (_all, dir: string, raw: string) => `${dir}${fd(raw)}`)
      .replace(/^(\d+):/, (_all, raw: string) => `${fd(raw)}:`),
  );
}

/** `memcached-tool ADDR stats|settings` rows: "name value" pairs after a header holding the address. */
export function parseToolTable(stdout: string): { header: string; rows: [string, string][] } {
  const lines = stdout.split('\n').filter((line) => line !== '');
  const header = (lines.shift() ?? '').replace(/#\S+/, '#<addr>').replace(/\s+/g, ' ');
  const rows = lines.map((line) => {
    const m = /^\s*(\S+)\s+(.*?)\s*$/.exec(line);
    return m === null ? (['?', line] as [string, string]) : ([m[1], m[2]] as [string, string]);
  });
  return { header, rows };
}

/**
 * A memcached-tool table as comparable text: the header, every name (sorted), and the
 * values `compareValue` selects, recordcache's own names left out (isRecordcacheOwn).
 */
export function renderToolTable(stdout: string, compareValue: (name: string) => boolean): string {
  const { header, rows } = parseToolTable(stdout);
  const kept = rows.filter(([name]) => !isRecordcacheOwn(name));
  const names = kept.map(([name]) => name);
  // memcached-tool prints the rows sorted by name: the order is compared too.
  const values = kept.filter(([name]) => compareValue(name)).map(([name, value]) => `${name} = ${value}`);
  return [header, `names: ${names.join(' ')}`, ...values].join('\n');
}

/**
 * `memcached-tool display`: one row per slab class in use. Max_age (seconds since the
 * oldest item was stored) and Evict_Time read the clock: shown as `~` when within the
 * tolerance of each other.
 */
export function renderToolDisplay(stdout: string): string {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const cells = line.trim().split(/\s+/);
      if (!/^\d+$/.test(cells[0] ?? '')) return cells.join(' ');
      // #, Item_Size, Max_age, Pages, Count, Full?, Evicted, Evict_Time, OOM
      const age = Number(cells[2].replace(/s$/, ''));
      cells[2] = age <= CLOCK_TOLERANCE_S + 1 ? 'age~0' : `age=${age}`;
      return cells.join(' ');
    })
    .join('\n');
}

/**
 * `memcached-tool dump`: `add <key> <flags> <exp> <len>` + value per key, in Perl's hash
 * order (random): sorted by key; absolute expiry shown relative to now (or 0).
 */
export function renderToolDump(stdout: string, nowSeconds = Date.now() / 1000): string {
  const entries: string[] = [];
  const re = /add (\S+) (\d+) (\d+) (\d+)\r\n/g;
  let m: RegExpExecArray | null = re.exec(stdout);
  while (m !== null) {
    const length = Number(m[4]);
    const valueStart = m.index + m[0].length;
    const value = stdout.slice(valueStart, valueStart + length);
    const exp = Number(m[3]);
    // TTLs in the cases are whole hundreds of seconds; the few seconds a run takes round away.
    const expText = exp === 0 ? '0' : `now+~${Math.round((exp - nowSeconds) / 100) * 100}`;
    entries.push(`add ${m[1]} ${m[2]} ${expText} ${length} ${JSON.stringify(value)}`);
    re.lastIndex = valueStart + length + 2;
    m = re.exec(stdout);
  }
  entries.sort();
  return entries.join('\n');
}
