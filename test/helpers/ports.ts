/** Local TCP ports for tests. */
import net from 'node:net';

/**
 * A port of 127.0.0.1 that nothing listens on now: for a server to listen on,
 * or for a connection that must be refused.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}
