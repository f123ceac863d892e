// Counts the Redis commands that touch one key prefix, through MONITOR on a raw socket (other users of the same
// Redis are filtered out). A raw socket, because ioredis's monitor mode can trip over replies in flight.
import { connect, type Socket } from 'node:net';

/** Commands since the last reset: what clients sent (round trips) and what Lua scripts ran inside Redis. */
export interface RedisCounts {
  client: number;
  lua: number;
  byCommand: Record<string, number>;
  /** Commands run inside Lua scripts on prefixed keys, by name. */
  byLuaCommand: Record<string, number>;
}

/**
 * Counts client commands of every connection that has touched the prefix (so MULTI/EXEC/PING on those
 * connections count too), and script-internal commands on prefixed keys.
 */
export class RedisCounter {
  private readonly clients = new Set<string>();
  private client = new Map<string, number>();
  private bySource = new Map<string, number>();
  private lua = 0;
  private luaByCommand = new Map<string, number>();
  private buffer = '';

  private constructor(
    private readonly socket: Socket,
    private readonly prefix: string,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\r\n')) >= 0) {
        this.onLine(this.buffer.slice(0, nl));
        this.buffer = this.buffer.slice(nl + 2);
      }
    });
    socket.on('error', () => {});
  }

  /** Opens the MONITOR connection (redis://host:port URLs without auth). */
  static async start(url: string, prefix: string): Promise<RedisCounter> {
    const u = new URL(url);
    const socket = connect(Number(u.port || 6379), u.hostname);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const counter = new RedisCounter(socket, prefix);
    socket.write('MONITOR\r\n');
    return counter;
  }

  // A line: +1700000000.123456 [0 127.0.0.1:5555] "evalsha" "abc" ... or [0 lua] for script-internal commands.
  private onLine(line: string): void {
    const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"/.exec(line);
    if (!m) return;
    const [, source, command] = m as unknown as [string, string, string];
    const touches = line.includes(this.prefix);
    if (source === 'lua') {
      if (touches) {
        this.lua++;
        const name = command.toLowerCase();
        this.luaByCommand.set(name, (this.luaByCommand.get(name) ?? 0) + 1);
      }
      return;
    }
    if (touches) this.clients.add(source);
    else if (!this.clients.has(source)) return;
    const name = command.toLowerCase();
    this.client.set(name, (this.client.get(name) ?? 0) + 1);
    this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
  }

  /** Counts since the last reset. */
  snapshot(): RedisCounts {
    const sorted = (m: Map<string, number>) => Object.fromEntries([...m].sort((a, b) => b[1] - a[1]));
    return {
      client: [...this.client.values()].reduce((a, b) => a + b, 0),
      lua: this.lua,
      byCommand: sorted(this.client),
      byLuaCommand: sorted(this.luaByCommand),
    };
  }

  /** Client commands sent over one connection (`host:port` as Redis sees the client) since the last reset. */
  fromSource(source: string): number {
    return this.bySource.get(source) ?? 0;
  }

  reset(): void {
    this.client = new Map();
    this.bySource = new Map();
    this.lua = 0;
    this.luaByCommand = new Map();
  }

  stop(): void {
    this.socket.destroy();
  }
}
