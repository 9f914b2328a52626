// SPDX-License-Identifier: GPL-2.0
//
// w7-table.js - the W7 figures of a bench/run.ts results.json as a small markdown table:
// one row per server (memcached, then each recordcache backend), medians over its valid
// runs (every check passed; if none was, over all of its runs, and the row says so).
//
//   node w7-table.js results.json
//
// Plain Node, no dependencies: it runs in the guest (kmod/harness/guest/bench-w7.sh) and
// on the host alike.
'use strict';

const fs = require('fs');

const results = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const w7 = (results.workloads || []).find((w) => w.id === 'W7' || w.id === 'W7-TLS');

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

function fmt(value, digits) {
  if (!Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 10000) return Math.round(value).toLocaleString('en');
  return value.toFixed(digits);
}

const columns = [
  // [header, source ('f' figure, 'd' detail, 'm' machineCpuPerGb), key, digits, scale]
  ['server CPU-s per GB', 'f', 'cpu_s_per_gb', 2],
  ['machine CPU-s per GB, generators excluded', 'm', 'machine_cpu_s_per_gb', 2],
  ['peak used-memory growth, MB', 'f', 'used_mem_growth_mb', 1],
  ['small GET p99, ms', 'f', 'small_get_p99_us', 1, 1e-3],
  ['GB/s delivered', 'f', 'gb_per_s', 3],
  ['server RSS growth, MB', 'd', 'server_rss_growth_mb', 1],
  ['kernel TCP memory growth, MB', 'd', 'tcp_mem_growth_mb', 1],
  ['server CPU %', 'd', 'server_cpu_percent', 0],
];

// The server process's CPU misses what a backend has the kernel do on its behalf in
// kernel threads (the kmod backend continues sends from a workqueue): the busy time of
// both CPUs over the window, less the generators' own CPU, counts it (loopback softirq
// work of both ends, and the runner's sampling, are in it for every server alike).
function machineCpuPerGb(run) {
  const d = run.details, f = run.figures;
  const seconds = d.gb_delivered / f.gb_per_s;
  const busy = (d.server_cpu_busy_percent + d.loadgen_cpu_busy_percent - d.loadgen_cpu_percent) / 100;
  return d.gb_delivered > 0 ? (busy * seconds) / d.gb_delivered : NaN;
}

const lines = [];
lines.push(`| server | valid runs | ${columns.map((c) => c[0]).join(' | ')} | checks |`);
lines.push(`|---|---|${columns.map(() => '---:').join('|')}|---|`);
const reference = {};
for (const target of results.targets || []) {
  const label = target.kind === 'memcached' ? target.label : `recordcache --records=${target.requestedBackend}`;
  if (!target.available) {
    lines.push(`| ${label} | 0 | ${columns.map(() => '–').join(' | ')} | not measured: ${String(target.note || '').replace(/\|/g, '/')} |`);
    continue;
  }
  const runs = (w7 ? w7.runs : []).filter((r) => r.target === target.label);
  const measured = runs.filter((r) => r.status === 'ok');
  const valid = measured.filter((r) => (r.checks || []).every((c) => c.ok));
  const ok = valid.length > 0 ? valid : measured;
  const cells = columns.map(([, src, key, digits, scale]) => {
    const pick = (r) => (src === 'm' ? machineCpuPerGb(r) : (src === 'f' ? r.figures : r.details)[key]);
    const value = median(ok.map(pick)) * (scale || 1);
    if (target.label === 'memcached') reference[key] = value;
    let text = fmt(value, digits);
    // Ratios against memcached for the three compared figures.
    if (target.label !== 'memcached' && src !== 'd' && key !== 'gb_per_s' && Number.isFinite(reference[key]) && reference[key] > 0) {
      text += ` (×${(value / reference[key]).toFixed(2)})`;
    }
    return text;
  });
  const failedRuns = runs.filter((r) => !valid.includes(r));
  const failed = [...new Set(failedRuns.flatMap((r) => (r.checks || []).filter((c) => !c.ok).map((c) => c.name)))];
  const errors = runs.filter((r) => r.status !== 'ok').map((r) => `${r.status}${r.error ? ': ' + r.error.split('\n')[0] : ''}`);
  let checks = [...failed.map((n) => `failed: ${n}`), ...errors].join('; ').replace(/\|/g, '/');
  if (valid.length === 0 && measured.length > 0) checks = `NO VALID RUN, medians of all runs; ${checks}`;
  else if (checks) checks = `left out of the medians: ${failedRuns.length} run(s), ${checks}`;
  lines.push(`| ${label} | ${valid.length}/${runs.length} | ${cells.join(' | ')} | ${checks || 'all passed'} |`);
}
process.stdout.write(lines.join('\n') + '\n');
