/**
 * A TCP relay: listens on one address and pipes each connection, bytes untouched, to a target. The test
 * servers and the local cluster's API server listen on 127.0.0.1 only; a relay on the pod bridge's
 * address lets pods reach them for the length of one test without opening them to anything else.
 */
import net from 'node:net';

export interface Relay {
  host: string;
  port: number;
  /** Cuts every connection and refuses new ones (the target looks down) until resume(). */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startRelay(host: string, target: { host: string; port: number }): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  let paused = false;
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    if (paused) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    track(client);
    track(upstream);
    // either side failing or ending ends both
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host,
    port,
    pause: () => {
      paused = true;
      for (const socket of sockets) socket.destroy();
    },
    resume: () => {
      paused = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** host:port of a `host:port` address or an http(s) URL. */
export function hostPort(address: string): { host: string; port: number } {
  const url = new URL(address.includes('://') ? address : `tcp://${address}`);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
}
