/*
 * SASL PLAIN for the binary protocol (-S), checked against memcached's password database:
 * the file named by MEMCACHED_SASL_PWDB, one `user:password` entry a line, read afresh for
 * every authentication as memcached's sasl_server_userdb_checkpass reads it. Without the
 * variable there are no users and every authentication fails.
 */

import fs from 'node:fs';
import { timingSafeEqual } from 'node:crypto';

/** The one mechanism offered. */
export const SASL_MECHANISMS = 'PLAIN';

/** memcached reads the database with fgets into a buffer of this size. */
const MAX_ENTRY_LENGTH = 256;

/** Whether a mechanism name (as the client sent it; C reads it up to a NUL) names PLAIN. */
export function isPlainMechanism(name: string): boolean {
  const nul = name.indexOf('\0');
  const mech = nul === -1 ? name : name.slice(0, nul);
  return mech.length === 5 && mech.toUpperCase() === 'PLAIN';
}

/**
 * Checks a PLAIN response, `authzid NUL authcid NUL password` (RFC 4616), as the SASL
 * library's PLAIN mechanism does: exactly two NULs, a user name, and an authorization
 * identity that is empty or the user itself.
 */
export function checkPlain(response: Buffer, databasePath: string | undefined = process.env.MEMCACHED_SASL_PWDB): boolean {
  const first = response.indexOf(0);
  if (first === -1) return false;
  const second = response.indexOf(0, first + 1);
  if (second === -1 || response.indexOf(0, second + 1) !== -1) return false;
  const authzid = response.subarray(0, first);
  const user = response.subarray(first + 1, second);
  const password = response.subarray(second + 1);
  if (user.length === 0) return false;
  if (authzid.length !== 0 && !authzid.equals(user)) return false;
  return databasePath !== undefined && checkPassword(databasePath, user, password);
}

/** Pieces of the file as fgets returns them: lines, cut every MAX_ENTRY_LENGTH - 1 bytes. */
function* entries(file: Buffer): Generator<Buffer> {
  let at = 0;
  while (at < file.length) {
    const newline = file.indexOf(0x0a, at);
    const lineEnd = newline === -1 ? file.length : newline + 1;
    const end = Math.min(lineEnd, at + MAX_ENTRY_LENGTH - 1);
    yield file.subarray(at, end);
    at = end;
  }
}

/** The first entry naming the user decides; its password must match exactly. */
function checkPassword(path: string, user: Buffer, password: Buffer): boolean {
  if (user.length + password.length > MAX_ENTRY_LENGTH - 4) return false;
  let file: Buffer;
  try {
    file = fs.readFileSync(path);
  } catch {
    return false;
  }
  let decided = false;
  let ok = false;
  // Every entry is looked at, and passwords compared in constant time, so the time taken
  // does not tell which user names exist.
  for (const entry of entries(file)) {
    const named = entry.length > user.length && entry[user.length] === 0x3a && sameBytes(entry.subarray(0, user.length), user);
    if (!named || decided) continue;
    decided = true;
    const stored = entry.subarray(user.length + 1);
    const end = stored[password.length];
    const terminated = stored.length === password.length || end === 0x3a || end === 0x0a || end === 0x0d || end === 0;
    ok = stored.length >= password.length && sameBytes(stored.subarray(0, password.length), password) && terminated;
  }
  return ok;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
