// A raw TCP client for conformance cases: sends byte chunks exactly as given
// (optionally paced, to split requests across packets) and reads replies up
// to a caller-chosen end, recording a close or a timeout as part of the reply.
import net from 'node:net';
import tls from 'node:tls';

export type Chunk = string | Buffer;

/**
 * Decides where a reply ends: given the bytes received so far, returns how
 * many of them form the complete reply, or -1 if it is not complete yet.
 */
export type ReplyEnd = (received: Buffer) => number;

/** How a read finished: the end was found, the peer closed, or time ran out. */
export type ReadOutcome = 'complete' | 'closed' | 'timeout';

export interface Reply {
  bytes: Buffer;
  outcome: ReadOutcome;
}

export function toBuffer(chunk: Chunk): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class WireConnection {
  private received: Buffer[] = [];
  private receivedLength = 0;
  private closed = false;
  private wake: (() => void) | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => {
      this.received.push(data);
      this.receivedLength += data.length;
      this.notify();
    });
    // A reset after the server closed is still a close for our purposes.
    socket.on('error', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  /** With `tlsOptions`, the connection speaks TLS and opens once the handshake is done. */
  static open(port: number, host = '127.0.0.1', timeoutMs = 5000, tlsOptions?: tls.ConnectionOptions): Promise<WireConnection> {
    return new Promise((resolve, reject) => {
      const socket = tlsOptions === undefined ? net.connect({ port, host }) : tls.connect({ port, host, ...tlsOptions });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once(tlsOptions === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new WireConnection(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Writes each chunk in order, waiting `delayMs` between chunks when given. */
  async send(chunks: Chunk[], delayMs = 0): Promise<void> {
    for (let i = 0; i < chunks.length; i++) {
      if (this.closed) return;
      if (i > 0 && delayMs > 0) await sleep(delayMs);
      const data = toBuffer(chunks[i]);
      const flushed = this.socket.write(data);
      if (!flushed) await this.drainOrClose();
    }
  }

  /**
   * Reads one reply. Bytes past the reply's end stay buffered for the next
   * read. On close or timeout, everything received so far is the reply.
   */
  async read(end: ReplyEnd, timeoutMs: number): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const buffered = this.peek();
      const length = end(buffered);
      if (length >= 0) return { bytes: this.take(length), outcome: 'complete' };
      if (this.closed) return { bytes: this.take(buffered.length), outcome: 'closed' };
      const left = deadline - Date.now();
      if (left <= 0) return { bytes: this.take(buffered.length), outcome: 'timeout' };
      await this.waitForData(left);
    }
  }

  /** Collects whatever arrives until `quietMs` pass with nothing new (or close). */
  async readQuiet(quietMs: number, maxMs = 10000): Promise<Reply> {
    const deadline = Date.now() + maxMs;
    for (;;) {
      const before = this.receivedLength;
      if (this.closed) return { bytes: this.take(this.receivedLength), outcome: 'closed' };
      await this.waitForData(Math.min(quietMs, Math.max(0, deadline - Date.now())));
      if (this.receivedLength === before && !this.closed) {
        return { bytes: this.take(this.receivedLength), outcome: 'timeout' };
      }
      if (Date.now() >= deadline) return { bytes: this.take(this.receivedLength), outcome: 'timeout' };
    }
  }

  /** Waits for the peer to close; true if it did within the time. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await this.waitForData(deadline - Date.now());
    return this.closed;
  }

  /** Orderly close from our side. */
  end(): void {
    this.socket.end();
  }

  /** Abrupt close (RST), as a crashing client would do. */
  destroy(): void {
    // A TLS socket has no reset of its own; its TCP socket is closed as it is.
    if (this.socket instanceof tls.TLSSocket) this.socket.destroy();
    else this.socket.resetAndDestroy();
    this.closed = true;
  }

  private peek(): Buffer {
    if (this.received.length > 1) this.received = [Buffer.concat(this.received)];
    return this.received[0] ?? Buffer.alloc(0);
  }

  private take(length: number): Buffer {
    const all = this.peek();
    const reply = all.subarray(0, length);
    const rest = all.subarray(length);
    this.received = rest.length > 0 ? [rest] : [];
    this.receivedLength = rest.length;
    return reply;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    if (wake) wake();
  }

  private waitForData(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private drainOrClose(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }
}
