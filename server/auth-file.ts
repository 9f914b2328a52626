/*
 * The -Y password file: `user:password` lines, read as memcached 1.6.18's authfile.c reads
 * them, and checked in constant time.
 *
 * memcached's reading has quirks an operator's existing file may depend on, kept here:
 * at most 8 entries are read; a line is read 255 bytes at a time, and one that long ends
 * the file; a password ends at CR, LF or NUL; a file of one line with no final newline
 * loses that line's last byte; a line without a colon (an empty line too) is malformed.
 */

import fs from 'node:fs';
import crypto from 'node:crypto';

const MAX_ENTRY_LEN = 256;
const MAX_ENTRIES = 8;

export class AuthFileError extends Error {
  constructor(
    readonly code: 'AUTHFILE_OPENFAIL' | 'AUTHFILE_MALFORMED',
    message: string,
  ) {
    super(message);
  }
}

interface Entry {
  user: Buffer;
  password: Buffer;
}

export class AuthFile {
  private constructor(private readonly entries: readonly Entry[]) {}

  /** Reads the file; throws AuthFileError with memcached's message when it cannot. */
  static load(path: string): AuthFile {
    let data: Buffer;
    try {
      data = fs.readFileSync(path);
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      // A directory opens and reads as empty in C; memcached starts with no entries.
      if (e.code === 'EISDIR') return new AuthFile([]);
      const reason = strerror(e);
      throw new AuthFileError('AUTHFILE_OPENFAIL', `Could not open authfile [${path}] for reading, error ${reason}: ${reason}`);
    }
    const entries = parseEntries(data);
    if (entries === null) {
      throw new AuthFileError('AUTHFILE_MALFORMED', `Authfile [${path}] has a malformed entry. Should be 'user:password'`);
    }
    return new AuthFile(entries);
  }

  /** True when the pair is in the file; every entry is compared, in time independent of the bytes. */
  check(user: Buffer, password: Buffer): boolean {
    let found = false;
    for (const entry of this.entries) {
      const userMatch = equalConstantTime(user, entry.user);
      const passwordMatch = equalConstantTime(password, entry.password);
      found = (userMatch && passwordMatch) || found;
    }
    return found;
  }
}

function equalConstantTime(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  return crypto.timingSafeEqual(a, b);
}

/**
 * authfile_load: fgets into a buffer of the file's size, at most 255 bytes per call and
 * never more than the room left, where each line's text starts where the previous
 * password ended. Returns null for a malformed entry.
 */
function parseEntries(data: Buffer): Entry[] | null {
  const entries: Entry[] = [];
  let fileAt = 0;
  // Room left in memcached's buffer: its size less the line lengths consumed so far.
  let room = data.length;
  while (fileAt < data.length) {
    const limit = Math.min(room, MAX_ENTRY_LEN) - 1;
    if (limit <= 0) break;
    let lineEnd = fileAt;
    while (lineEnd < data.length && lineEnd - fileAt < limit) {
      if (data[lineEnd++] === 0x0a) break;
    }
    const line = data.subarray(fileAt, lineEnd);
    fileAt = lineEnd;
    // The line as fgets leaves it: its bytes, then a NUL.
    const at = (x: number): number => (x < line.length ? line[x] : 0);
    let colon = -1;
    let x = 0;
    for (; x < MAX_ENTRY_LEN; x++) {
      const byte = at(x);
      if (colon === -1) {
        if (byte === 0) break;
        if (byte === 0x3a) colon = x;
      } else if (byte === 0x0a || byte === 0x0d || byte === 0) {
        break;
      }
    }
    if (colon === -1) return null;
    entries.push({ user: Buffer.from(line.subarray(0, colon)), password: Buffer.from(line.subarray(colon + 1, x)) });
    if (entries.length === MAX_ENTRIES) break;
    if (at(x) === 0) break;
    room -= x;
  }
  return entries;
}

function strerror(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'ELOOP':
      return 'Too many levels of symbolic links';
    case 'ENAMETOOLONG':
      return 'File name too long';
    case 'ENOTDIR':
      return 'Not a directory';
    default:
      return error.message;
  }
}
