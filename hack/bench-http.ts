// The benchmarks' one HTTP client call: a request with a bearer token over a keep-alive agent,
// the whole body read into a string. A failed request rejects with the socket error, marked
// `reusedSocket` when it went over a kept-alive connection (the caller may retry it once).
import http from 'node:http';

export interface BenchReply {
  readonly status: number;
  readonly body: string;
}

export function benchRequest(agent: http.Agent, url: string, method: string, token: string, body?: string, contentType = 'application/json'): Promise<BenchReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(body) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
    req.end(body);
  });
}
