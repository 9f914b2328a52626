/*
 * Results: summarised per workload and figure (median ratio recordcache/memcached, its
 * spread, the absolute figures beside it), saved as JSON and rendered as Markdown and
 * two hand-written SVG plots.
 */

import fs from 'node:fs';
import path from 'node:path';
import type { LoadgenResult } from './loadgen';
import type { Check } from './measure';
import type { MachineInfo, Versions } from './machine';
import type { CrosscheckResult } from './crosscheck';
import { AGREEMENT, SATURATED_PERCENT } from './crosscheck';
import { MEMTIER_AGREEMENT, type MemtierSummary } from './memtier';
import { spread, type Spread } from './stats';
import type { FigureSpec, Workload } from './workloads';

export type RunStatus = 'ok' | 'unsupported' | 'failed';

export interface RunRecord {
  workload: string;
  target: string;
  /** The records backend recordcache reported running (`stats settings`); null for memcached. */
  backend: string | null;
  run: number;
  status: RunStatus;
  error?: string;
  figures: Record<string, number>;
  details: Record<string, number | string | boolean>;
  checks: Check[];
  /** The generators' output, trimmed (see trimLoadgen in run.ts). */
  loadgen?: Partial<LoadgenResult>[];
  wallSeconds: number;
}

export interface TargetInfo {
  label: string;
  kind: 'memcached' | 'recordcache';
  requestedBackend: string | null;
  runningBackend: string | null;
  available: boolean;
  note?: string;
}

export interface WorkloadResult {
  id: string;
  title: string;
  description: string;
  figures: FigureSpec[];
  runs: RunRecord[];
}

export interface FigureSummary {
  workload: string;
  title: string;
  figure: FigureSpec;
  /** The recordcache target compared with memcached. */
  candidate: string;
  backend: string | null;
  status: RunStatus | 'unavailable';
  memcached: Spread;
  recordcache: Spread;
  /** recordcache / memcached, one value per A/B pair of runs. */
  ratio: Spread;
  /** Every run's checks passed. */
  valid: boolean;
  failedChecks: string[];
  serverCpuPercent: { memcached: number; recordcache: number };
  loadgenCpuPercent: { memcached: number; recordcache: number };
}

export interface BenchResults {
  schema: 1;
  generated: string;
  mode: 'quick' | 'full';
  wallSeconds: number;
  command: string;
  machine: MachineInfo;
  versions: Versions;
  settings: {
    runs: number;
    durationS: number;
    warmupS: number;
    serverCpu: number | null;
    loadgenCpu: number | null;
    /** -t of every server (1 when the results predate the option). */
    threads?: number;
    memoryMb: number;
    maxConns: number;
    /** Niceness servers and generators ran at (-20: other programs yield to them). */
    niceness?: number;
  };
  targets: TargetInfo[];
  workloads: WorkloadResult[];
  summary: FigureSummary[];
  crosscheck: CrosscheckResult | null;
  /** memtier_benchmark rows against the project's own generator; absent in older results. */
  memtier?: MemtierSummary | null;
}

export function workloadResult(workload: Workload, runs: RunRecord[]): WorkloadResult {
  return { id: workload.id, title: workload.title, description: workload.description, figures: workload.figures, runs };
}

/**
 * Pairs run i of memcached with run i of each other target (recordcache, or another
 * memcached build): the A B A B order.
 */
export function summarise(workloads: WorkloadResult[], targets: TargetInfo[]): FigureSummary[] {
  const out: FigureSummary[] = [];
  const candidates = targets.filter((t) => t.label !== 'memcached');
  for (const w of workloads) {
    const reference = w.runs.filter((r) => r.target === 'memcached' && r.status === 'ok');
    for (const candidate of candidates) {
      const runs = w.runs.filter((r) => r.target === candidate.label);
      const okRuns = runs.filter((r) => r.status === 'ok');
      const status: FigureSummary['status'] = !candidate.available
        ? 'unavailable'
        : runs.length > 0 && runs.every((r) => r.status === 'unsupported')
          ? 'unsupported'
          : okRuns.length === 0
            ? 'failed'
            : 'ok';
      const failed = [...reference, ...okRuns].flatMap((r) =>
        r.checks.filter((c) => !c.ok).map((c) => `${r.target} run ${r.run}: ${c.name} (${c.detail})`),
      );
      const median = (rs: RunRecord[], key: string): number => spread(rs.map((r) => Number(r.details[key]))).median;
      for (const figure of w.figures) {
        const ratios: number[] = [];
        for (const c of okRuns) {
          const m = reference.find((r) => r.run === c.run);
          if (m) ratios.push(c.figures[figure.id] / m.figures[figure.id]);
        }
        out.push({
          workload: w.id,
          title: w.title,
          figure,
          candidate: candidate.label,
          // What ran; for a backend that did not start, the one asked for.
          backend: candidate.available
            ? withSuboptions(okRuns[0]?.backend ?? candidate.runningBackend, candidate.requestedBackend)
            : candidate.requestedBackend,
          status,
          memcached: spread(reference.map((r) => r.figures[figure.id])),
          recordcache: spread(okRuns.map((r) => r.figures[figure.id])),
          ratio: spread(ratios),
          valid: failed.length === 0 && reference.length > 0,
          failedChecks: failed,
          serverCpuPercent: { memcached: median(reference, 'server_cpu_percent'), recordcache: median(okRuns, 'server_cpu_percent') },
          loadgenCpuPercent: { memcached: median(reference, 'loadgen_cpu_percent'), recordcache: median(okRuns, 'loadgen_cpu_percent') },
        });
      }
    }
    if (candidates.length === 0) {
      // memcached alone (e.g. --backends none): still report its figures.
      for (const figure of w.figures) {
        out.push({
          workload: w.id,
          title: w.title,
          figure,
          candidate: '',
          backend: null,
          status: 'ok',
          memcached: spread(reference.map((r) => r.figures[figure.id])),
          recordcache: spread([]),
          ratio: spread([]),
          valid: true,
          failedChecks: [],
          serverCpuPercent: { memcached: NaN, recordcache: NaN },
          loadgenCpuPercent: { memcached: NaN, recordcache: NaN },
        });
      }
    }
  }
  return out;
}

/* ---------- number formatting ---------- */

function formatFigure(value: number, figure: FigureSpec): string {
  if (!Number.isFinite(value)) return '–';
  const id = figure.id;
  if (id.endsWith('_per_s') && !id.startsWith('gb')) return formatCount(value);
  if (id === 'gb_per_s') return value.toFixed(2);
  if (id === 'cpu_s_per_gb') return value.toFixed(3);
  if (id.endsWith('_us')) return value >= 100 ? value.toFixed(0) : value.toFixed(1);
  if (id.endsWith('_mb')) return value.toFixed(1);
  if (figure.kind === 'memory') return formatBytes(value);
  return String(value);
}

function formatCount(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(0);
}

function formatBytes(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 2 ** 20) return `${(value / 2 ** 20).toFixed(1)} MiB`;
  if (abs >= 10 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
  return `${value.toFixed(0)} B`;
}

function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '–';
}

function formatPercent(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(0)}%` : '–';
}

function withRange(s: Spread, format: (v: number) => string): string {
  if (s.n === 0) return '–';
  if (s.n === 1) return format(s.median);
  return `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

/* ---------- Markdown ---------- */

/** The matrix sections: summary, saturation, per run, memory and latency details. */
function renderMatrix(results: BenchResults, lines: string[]): void {
  lines.push('## Summary', '');
  const candidates = [...new Set(results.summary.map((x) => x.candidate).filter(Boolean))];
  lines.push(
    '| Workload | Figure | better | memcached | ' +
      (candidates.length ? 'recordcache | ratio (median, range) | backend |' : '') +
      ' checks |',
  );
  lines.push('|---|---|---|---|' + (candidates.length ? '---|---|---|' : '') + '---|');
  for (const x of results.summary) {
    const figureCells = `| ${x.workload} ${x.title} | ${x.figure.label} | ${x.figure.better} | ${withRange(x.memcached, (n) => formatFigure(n, x.figure))} |`;
    const format = (n: number): string => formatFigure(n, x.figure);
    let candidateCells = '';
    if (candidates.length) {
      if (x.status === 'ok') {
        const ratio =
          x.ratio.n > 1
            ? `**${formatRatio(x.ratio.median)}** (${formatRatio(x.ratio.min)}–${formatRatio(x.ratio.max)})`
            : `**${formatRatio(x.ratio.median)}**`;
        candidateCells = ` ${withRange(x.recordcache, format)} | ${ratio} | ${x.backend ?? (x.candidate || '–')} |`;
      } else {
        const status = x.status === 'unavailable' ? 'not measured: backend unavailable' : x.status;
        candidateCells = ` ${status} | – | ${x.backend ?? (x.candidate || '–')} |`;
      }
    }
    const checks = x.valid ? 'ok' : `${x.failedChecks.length} failed`;
    lines.push(`${figureCells}${candidateCells} ${checks} |`);
  }
  lines.push('');

  // The generator must not be the limit: the server's CPU near 100% while the generator's stays below 90%.
  const saturating = results.workloads.filter((w) => w.figures.some((f) => f.kind === 'throughput'));
  if (saturating.length) {
    lines.push('## Server and generator CPU (medians)', '');
    lines.push(
      "A throughput figure is the server's only if the server's CPU is saturated and the generator's is not. " +
        'Server = the server process (all threads); busy = its pinned CPU from /proc/stat, softirqs included; generator = loadgen (getrusage), or memtier in the MT rows (/proc, sampled every 100 ms).',
      '',
    );
    const targets = [...new Set(saturating.flatMap((w) => w.runs.map((r) => r.target)))];
    lines.push(`| Workload | ${targets.map((t) => `${t}: server / busy / generator`).join(' | ')} |`);
    lines.push(`|---|${targets.map(() => '---').join('|')}|`);
    for (const w of saturating) {
      const cells = targets.map((t) => {
        const runs = w.runs.filter((r) => r.target === t && r.status === 'ok');
        if (runs.length === 0) return '–';
        const med = (k: string): string => formatPercent(spread(runs.map((r) => Number(r.details[k]))).median);
        return `${med('server_cpu_percent')} / ${med('server_cpu_busy_percent')} / ${med('loadgen_cpu_percent')}`;
      });
      lines.push(`| ${w.id} ${w.title} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }

  lines.push('## Per run', '');
  lines.push(
    'Server CPU is the server process (all threads) from /proc/<pid>/stat; "CPU busy" is the whole pinned CPU from /proc/stat, interrupts included. ' +
      "Generator CPU is loadgen's own (getrusage), or memtier's in the MT rows (/proc, sampled every 100 ms). Waited = time the server's (generator's) threads were runnable but kept off their CPU " +
      '(/proc/<pid>/task/*/schedstat), share of the window. Other = CPU used by unrelated programs, on any CPU, during the window.',
    '',
  );
  lines.push(
    '| Workload | Server | Run | figures | server CPU | server CPU busy | generator CPU | waited (server / generator) | other | p50 µs | p99 µs | p99.9 µs | checks |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const w of results.workloads) {
    for (const r of w.runs) {
      const figs =
        r.status === 'ok'
          ? w.figures.map((f) => `${f.label}: ${formatFigure(r.figures[f.id], f)}`).join('; ')
          : `${r.status}${r.error ? ': ' + r.error.split('\n')[0].slice(0, 120) : ''}`;
      const d = r.details;
      const num = (k: string): number => (typeof d[k] === 'number' ? (d[k] as number) : NaN);
      const lat = (k: string): string =>
        Number.isFinite(num(k)) ? formatFigure(num(k), { id: 'x_us', label: '', better: 'lower', kind: 'latency' }) : '–';
      const failed = r.checks.filter((c) => !c.ok);
      lines.push(
        `| ${w.id} | ${r.target} | ${r.run} | ${figs} | ${formatPercent(num('server_cpu_percent'))} | ${formatPercent(num('server_cpu_busy_percent'))} | ` +
          `${formatPercent(num('loadgen_cpu_percent'))} | ${formatPercent(num('server_wait_percent'))} / ${formatPercent(num('loadgen_wait_percent'))} | ` +
          `${formatPercent(num('other_cpu_percent'))} | ${lat('p50_us')} | ${lat('p99_us')} | ${lat('p999_us')} | ` +
          `${failed.length === 0 ? (r.checks.length ? 'ok' : '–') : failed.map((c) => `${c.name}: ${c.detail}`).join('; ')} |`,
      );
    }
  }
  lines.push('');

  const extras = results.workloads.filter((w) => ['W7', 'W8', 'W10', 'L1'].includes(w.id));
  if (extras.length) {
    lines.push('## Memory and latency details', '');
    for (const w of extras) {
      lines.push(`**${w.id} ${w.title}.** ${w.description}`, '');
      const keys = [...new Set(w.runs.flatMap((r) => Object.keys(r.details)))].filter(
        (k) =>
          ![
            'server_cpu_percent',
            'server_cpu_busy_percent',
            'loadgen_cpu_percent',
            'loadgen_cpu_busy_percent',
            'other_cpu_percent',
            'server_wait_percent',
            'loadgen_wait_percent',
          ].includes(k),
      );
      const targets = [...new Set(w.runs.map((r) => r.target))];
      lines.push(`| detail (median) | ${targets.join(' | ')} |`);
      lines.push(`|---|${targets.map(() => '---').join('|')}|`);
      for (const k of keys) {
        const cells = targets.map((t) => {
          const values = w.runs.filter((r) => r.target === t && r.status === 'ok').map((r) => r.details[k]);
          if (values.length === 0) return '–';
          if (typeof values[0] === 'boolean') return values.map((x) => (x ? 'yes' : 'no')).join(', ');
          return String(spread(values.map(Number)).median);
        });
        lines.push(`| ${k} | ${cells.join(' | ')} |`);
      }
      lines.push('');
    }
  }
}

export function renderMarkdown(results: BenchResults): string {
  const m = results.machine;
  const v = results.versions;
  const s = results.settings;
  const lines: string[] = [];
  lines.push('# recordcache benchmark report', '');
  lines.push(`Generated ${results.generated} by \`${results.command}\` (${results.mode} mode, ${Math.round(results.wallSeconds)} s).`, '');
  lines.push(
    `**Machine:** ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGb} GiB, ${m.kernel}, ${m.os}; clocksource ${m.clocksource}, TCP congestion control ${m.tcpCongestionControl}.`,
    `**Versions:** ${v.memcached}; recordcache ${v.recordcache} on Node ${v.node}; loadgen ${v.loadgen}, built with ${v.cc}; ${v.memcaslap}.`,
    `**Method:** each server runs alone with \`-t ${s.threads ?? 1} -m ${s.memoryMb} -c ${s.maxConns}\`, pinned to CPU ${s.serverCpu ?? 'any'}; the generator is pinned to CPU ${s.loadgenCpu ?? 'any'}` +
      `${s.niceness ? `; both run at niceness ${s.niceness}` : ''}. ` +
      `Every run starts a fresh server, preloads its keys, warms up ${s.warmupS} s and measures ${s.durationS} s; servers alternate A B A B, ${s.runs} runs each. ` +
      "Ratios are recordcache/memcached (or another memcached build / Debian's memcached) per pair of runs; the table shows their median and range.",
    '',
  );
  for (const t of results.targets.filter((t) => !t.available)) {
    lines.push(`*${t.label}: not measured — ${t.note ?? 'unavailable'}.*`, '');
  }
  if (results.summary.length > 0) renderMatrix(results, lines);

  if (results.crosscheck) {
    const c = results.crosscheck;
    lines.push('## Cross-check with memcaslap', '');
    lines.push(
      `libmemcached's memcaslap and loadgen each drive a fresh memcached (\`-t 1\`, pinned) with the same mix: ${c.conns} connections, ` +
        `${c.keySize} B keys, ${c.valueSize} B values, one request in flight per connection, ${c.durationS} s per run, alternating. ` +
        `Agreement means the medians are within ${AGREEMENT * 100}%; it is judged where memcaslap drove memcached to at least ${SATURATED_PERCENT}% of its CPU ` +
        "(CPU shares are over each tool's timed run). Where it did not, memcaslap measured itself, not memcached.",
      '',
    );
    lines.push(
      '| Mix | memcaslap ops/s | loadgen ops/s | loadgen/memcaslap | agree | memcaslap CPU | loadgen CPU | memcached CPU (memcaslap / loadgen) |',
    );
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const x of c.mixes) {
      lines.push(
        `| ${x.title} | ${withRange(x.memcaslap, formatCount)} | ${withRange(x.loadgen, formatCount)} | ${x.ratio.toFixed(2)} | ` +
          `${x.agree === null ? 'n/a: memcaslap did not saturate memcached' : x.agree ? 'yes' : 'no'} | ` +
          `${formatPercent(x.memcaslapCpuPercent)} | ${formatPercent(x.loadgenCpuPercent)} | ${formatPercent(x.memcachedCpuPercentUnderMemcaslap)} / ${formatPercent(x.memcachedCpuPercentUnderLoadgen)} |`,
      );
    }
    lines.push('');
  }

  if (results.memtier) renderMemtier(results.memtier, lines);

  lines.push('## Plots', '', '![throughput ratio per workload](throughput.svg)', '', '![latency percentiles](latency.svg)', '');
  const failed = results.summary.filter((x) => !x.valid);
  if (failed.length) {
    lines.push('## Failed checks', '');
    for (const x of failed) for (const f of [...new Set(x.failedChecks)]) lines.push(`- ${x.workload} ${x.figure.label}: ${f}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** Where memtier_benchmark and loadgen agree on recordcache/memcached, and where they do not. */
function renderMemtier(m: MemtierSummary, lines: string[]): void {
  lines.push('## memtier_benchmark beside loadgen', '');
  if (m.skipped) {
    lines.push(`memtier rows: ${m.skipped}`, '');
    return;
  }
  lines.push(
    `The MT rows above are driven by ${m.version ?? 'memtier_benchmark'} (\`--protocol=memcache_text\`) instead of loadgen, ` +
      `against the same servers, started, pinned and alternated the same way. memtier runs ${m.threads} thread × ${m.conns / m.threads} clients ` +
      `(its default is 4 × 50: the same ${m.conns} connections, but on one CPU a second thread only takes turns with the first), ` +
      'pinned to the generator CPU, keys preloaded with memtier itself; it has no warm-up, so its whole timed run is the window ' +
      "(the server's CPU is taken over memtier's own start and finish times), and its figures are its own (ops/s and latency from `--json-out-file`).",
    '',
    "**memtier saturates its own CPU before memcached's on two cores**: where memtier's CPU is near 100% and the server's is not, " +
      'memtier, not the server, sets the figure, both servers get about the same, and the ratio drifts toward 1.00. ' +
      "Such rows fail the 'generator CPU' check by design.",
    '',
  );
  if (m.comparisons.length === 0) {
    lines.push('No recordcache target to compare.', '');
    return;
  }
  lines.push(
    `Each MT row is compared with the loadgen row of the closest shape; they disagree where the two ratios differ by more than ${MEMTIER_AGREEMENT * 100}%.`,
    '',
  );
  lines.push(
    '| memtier row | target | ratio under memtier | memcached / memtier CPU | loadgen row | ratio under loadgen | disagree | why that row |',
  );
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const c of m.comparisons) {
    const verdict =
      c.disagree === null ? 'n/a: row not run' : c.disagree ? `**yes** (${formatRatio(c.memtierRatio / c.loadgenRatio)})` : 'no';
    lines.push(
      `| ${c.memtierWorkload} ${c.memtierTitle} | ${c.candidate} | ${formatRatio(c.memtierRatio)} | ${formatPercent(c.memcachedCpuPercent)} / ${formatPercent(c.memtierCpuPercent)} | ` +
        `${c.loadgenWorkload} | ${formatRatio(c.loadgenRatio)} | ${verdict} | ${c.why} |`,
    );
  }
  lines.push('');
}

/* ---------- SVG ---------- */

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const FONT = 'font-family="sans-serif" font-size="12"';

/** Horizontal bars: the median ratio recordcache/memcached of each throughput figure, with its range. */
export function renderThroughputSvg(results: BenchResults): string {
  const rows = results.summary.filter((x) => x.figure.kind === 'throughput' && x.candidate);
  const labelWidth = 260;
  const plotWidth = 420;
  const rowHeight = 24;
  const top = 40;
  const height = top + Math.max(rows.length, 1) * rowHeight + 40;
  const maxRatio = Math.max(1.25, ...rows.map((r) => (Number.isFinite(r.ratio.max) ? r.ratio.max : 0))) * 1.05;
  const x = (ratio: number): number => labelWidth + (ratio / maxRatio) * plotWidth;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + plotWidth + 90}" height="${height}" ${FONT}>`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(
    `<text x="10" y="20" font-size="14" font-weight="bold">Throughput, recordcache / memcached (median of A/B pairs, bar = range)</text>`,
  );
  rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    const label = `${r.workload} ${r.figure.label}${rows.some((o) => o.candidate !== r.candidate) ? ` (${r.candidate})` : ''}`;
    parts.push(`<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escapeXml(label)}</text>`);
    if (r.status !== 'ok' || !Number.isFinite(r.ratio.median)) {
      parts.push(`<text x="${labelWidth + 6}" y="${y + 15}" fill="#777">${escapeXml(r.status)}</text>`);
      return;
    }
    const colour = r.ratio.median >= 1 ? '#3a7d44' : '#c0504d';
    parts.push(
      `<rect x="${labelWidth}" y="${y + 4}" width="${(x(r.ratio.median) - labelWidth).toFixed(1)}" height="${rowHeight - 8}" fill="${colour}" opacity="0.8"/>`,
    );
    if (r.ratio.n > 1) {
      parts.push(
        `<line x1="${x(r.ratio.min).toFixed(1)}" x2="${x(r.ratio.max).toFixed(1)}" y1="${y + 12}" y2="${y + 12}" stroke="black"/>`,
      );
      for (const end of [r.ratio.min, r.ratio.max])
        parts.push(`<line x1="${x(end).toFixed(1)}" x2="${x(end).toFixed(1)}" y1="${y + 7}" y2="${y + 17}" stroke="black"/>`);
    }
    parts.push(
      `<text x="${(Math.max(x(r.ratio.median), x(Number.isFinite(r.ratio.max) ? r.ratio.max : 0)) + 6).toFixed(1)}" y="${y + 15}">${r.ratio.median.toFixed(2)}×</text>`,
    );
  });
  const axisY = top + Math.max(rows.length, 1) * rowHeight + 4;
  parts.push(`<line x1="${labelWidth}" x2="${labelWidth + plotWidth}" y1="${axisY}" y2="${axisY}" stroke="#444"/>`);
  for (let t = 0; t <= maxRatio + 1e-9; t += maxRatio > 3 ? 1 : 0.25) {
    parts.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${axisY}" y2="${axisY + 4}" stroke="#444"/>`);
    parts.push(`<text x="${x(t).toFixed(1)}" y="${axisY + 16}" text-anchor="middle" font-size="10">${t.toFixed(2)}</text>`);
  }
  parts.push(`<line x1="${x(1).toFixed(1)}" x2="${x(1).toFixed(1)}" y1="${top - 4}" y2="${axisY}" stroke="#333" stroke-dasharray="4 3"/>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Latency percentiles (log scale) of the latency scenarios, memcached beside each recordcache target. */
export function renderLatencySvg(results: BenchResults): string {
  const scenarios: { workload: string; label: string }[] = [
    { workload: 'W1', label: 'W1 closed loop, saturated' },
    { workload: 'L1', label: "W1 at 50% of memcached's max" },
    { workload: 'W7', label: 'small GETs beside W7 fan-out' },
    { workload: 'W8', label: 'W1 at 10% beside 10k idle conns' },
  ];
  const percentiles: { key: string; label: string; colour: string }[] = [
    { key: 'p50_us', label: 'p50', colour: '#4f81bd' },
    { key: 'p99_us', label: 'p99', colour: '#f79646' },
    { key: 'p999_us', label: 'p99.9', colour: '#c0504d' },
  ];
  type Row = { label: string; values: number[] };
  const rows: Row[] = [];
  for (const s of scenarios) {
    const w = results.workloads.find((x) => x.id === s.workload);
    if (!w) continue;
    for (const target of [...new Set(w.runs.map((r) => r.target))]) {
      const runs = w.runs.filter((r) => r.target === target && r.status === 'ok');
      if (runs.length === 0) continue;
      rows.push({
        label: `${s.label}: ${target}`,
        values: percentiles.map((p) => spread(runs.map((r) => Number(r.details[p.key]))).median),
      });
    }
  }
  const labelWidth = 330;
  const plotWidth = 400;
  const groupHeight = 3 * 9 + 12;
  const top = 50;
  const height = top + Math.max(rows.length, 1) * groupHeight + 40;
  const all = rows.flatMap((r) => r.values).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.max(1, Math.min(...all, 10)))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all, 100))));
  const x = (v: number): number =>
    labelWidth + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotWidth;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + plotWidth + 80}" height="${height}" ${FONT}>`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="10" y="20" font-size="14" font-weight="bold">Latency percentiles, µs (log scale, median of runs)</text>`);
  percentiles.forEach((p, i) => {
    parts.push(
      `<rect x="${10 + i * 70}" y="30" width="10" height="10" fill="${p.colour}"/><text x="${24 + i * 70}" y="39">${p.label}</text>`,
    );
  });
  rows.forEach((r, i) => {
    const y = top + i * groupHeight;
    parts.push(`<text x="${labelWidth - 8}" y="${y + 18}" text-anchor="end">${escapeXml(r.label)}</text>`);
    r.values.forEach((v, j) => {
      if (!Number.isFinite(v)) return;
      const barY = y + 2 + j * 9;
      parts.push(
        `<rect x="${labelWidth}" y="${barY}" width="${(x(v) - labelWidth).toFixed(1)}" height="8" fill="${percentiles[j].colour}"/>`,
      );
      parts.push(`<text x="${(x(v) + 4).toFixed(1)}" y="${barY + 8}" font-size="9">${v >= 100 ? v.toFixed(0) : v.toFixed(1)}</text>`);
    });
  });
  const axisY = top + Math.max(rows.length, 1) * groupHeight + 4;
  parts.push(`<line x1="${labelWidth}" x2="${labelWidth + plotWidth}" y1="${axisY}" y2="${axisY}" stroke="#444"/>`);
  for (let t = lo; t <= hi * 1.0001; t *= 10) {
    parts.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${axisY}" y2="${axisY + 4}" stroke="#444"/>`);
    const tick = t >= 1e6 ? `${t / 1e6} s` : t >= 1000 ? `${t / 1000} ms` : `${t} µs`;
    parts.push(`<text x="${x(t).toFixed(1)}" y="${axisY + 16}" text-anchor="middle" font-size="10">${tick}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/**
 * JSON laid out for reading and diffing: nested structure indented down to `depth`, and
 * each deeper value (a run, a summary row) on one line.
 */
export function formatJson(value: unknown, depth = 4, indent = ''): string {
  const finite = (_k: string, v: unknown): unknown => (typeof v === 'number' && !Number.isFinite(v) ? null : v);
  if (depth === 0 || value === null || typeof value !== 'object') return JSON.stringify(value, finite) ?? 'null';
  const inner = `${indent} `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + formatJson(v, depth - 1, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, depth - 1, inner)}`).join(',\n')}\n${indent}}`;
}

/** Writes results.json, report.md and the plots into `dir`; the raw generator output stays in the JSON. */
export function writeReport(dir: string, results: BenchResults): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const files: [string, string][] = [
    ['results.json', formatJson(results) + '\n'],
    ['report.md', renderMarkdown(results)],
    ['throughput.svg', renderThroughputSvg(results)],
    ['latency.svg', renderLatencySvg(results)],
  ];
  const written: string[] = [];
  for (const [name, content] of files) {
    const file = path.join(dir, name);
    // Written beside and renamed, so an interrupted run never leaves half a report.
    fs.writeFileSync(`${file}.tmp`, content);
    fs.renameSync(`${file}.tmp`, file);
    written.push(file);
  }
  return written;
}

/** The backend that ran, with the -o suboptions it was asked to run with ("native+records_min_size=4096"). */
function withSuboptions(running: string | null, requested: string | null): string | null {
  const plus = requested?.indexOf('+') ?? -1;
  return running !== null && requested !== null && plus >= 0 ? running + requested.slice(plus) : running;
}
