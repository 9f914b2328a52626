/*
 * What every engine that accepts connections itself does the same way (js.ts, native.ts and
 * kmod.ts through it): the numbers it gives listeners and connections, how it names an
 * address, how it replaces a stale unix socket, and how long a stopping server waits.
 */

import * as fs from 'node:fs';

/** How long a stopping server waits for clients to take their replies (drain()). */
export const DRAIN_GRACE_MS = 5000;

/**
 * Small numbers for listeners and connections, unique among open ones (reported as memcached
 * reports fds): a released number is the next one given out again.
 */
export class IdPool {
  private readonly free: number[] = [];
  private next = 0;

  take(): number {
    return this.free.length > 0 ? (this.free.pop() as number) : this.next++;
  }

  release(id: number): void {
    this.free.push(id);
  }
}

/** "127.0.0.1:11211" or "[::1]:11211"; an IPv4-mapped IPv6 address is shown as IPv4. */
export function formatAddress(address: string, port: number): string {
  const host = address.startsWith('::ffff:') ? address.slice(7) : address;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Removes a unix socket left by an earlier server at `path`, so that listening there succeeds. */
export function removeStaleSocket(path: string): void {
  try {
    if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path);
  } catch {
    // no stale socket to remove
  }
}
