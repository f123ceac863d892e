// A TCP proxy on 127.0.0.1 in front of a real server (Redis), to take it away from one client: down or stalled.
import net from 'node:net';

/** A proxy that can refuse connections (`down`) or keep them open without forwarding anything (`stall`). */
export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private mode: 'up' | 'down' | 'stall' = 'up';
  private readonly held: Array<() => void> = [];

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Starts a proxy to `target` (host:port) on a free port. */
  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = net.createServer((client) => proxy.accept(client, targetHost, targetPort));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  /** `redis://127.0.0.1:<port>` of the proxy. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private accept(client: net.Socket, host: string, port: number): void {
    if (this.mode === 'down') {
      client.destroy();
      return;
    }
    const upstream = net.connect(port, host);
    this.sockets.add(client).add(upstream);
    const pipe = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk) => {
        if (this.mode === 'stall') this.held.push(() => to.write(chunk));
        else to.write(chunk);
      });
    pipe(client, upstream);
    pipe(upstream, client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  }

  /** Drops every connection and refuses new ones, as a dead server would. */
  down(): void {
    this.mode = 'down';
    this.held.length = 0;
    for (const s of this.sockets) s.destroy();
  }

  /** Keeps connections open but holds every byte (a hung server); `up()` delivers what was held. */
  stall(): void {
    this.mode = 'stall';
  }

  /** Forwards again (held bytes first). */
  up(): void {
    this.mode = 'up';
    for (const flush of this.held.splice(0)) flush();
  }

  async stop(): Promise<void> {
    this.down();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
