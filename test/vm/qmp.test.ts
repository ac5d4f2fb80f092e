import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { QmpClient, QmpError, type QmpEvent } from '../../src/vm/qmp.js';

const GREETING = { QMP: { version: { qemu: { micro: 22, minor: 2, major: 7 }, package: 'Debian 1:7.2+dfsg-7+deb12u18+b3' }, capabilities: ['oob'] } };

type Cmd = { execute: string; id?: string; arguments?: Record<string, unknown> };
type Script = (cmd: Cmd, send: (obj: unknown) => void, sock: net.Socket) => void;

const dir = mkdtempSync(path.join(os.tmpdir(), 'msu-qmp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let servers: net.Server[] = [];
let clients: QmpClient[] = [];
afterEach(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.close();
  servers = [];
  clients = [];
});

let n = 0;
/** A fake QEMU: sends the greeting, answers qmp_capabilities, then hands every command to `script`. */
function fakeQemu(script: Script, opts: { greet?: boolean } = {}): { socket: string; received: Cmd[]; listen: () => Promise<void> } {
  const socket = path.join(dir, `q${n++}.sock`);
  const received: Cmd[] = [];
  const server = net.createServer((sock) => {
    const send = (obj: unknown) => sock.write(JSON.stringify(obj) + '\r\n');
    if (opts.greet !== false) send(GREETING);
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const cmd = JSON.parse(buf.slice(0, i)) as Cmd;
        buf = buf.slice(i + 1);
        received.push(cmd);
        if (cmd.execute === 'qmp_capabilities') send({ return: {}, id: cmd.id });
        else script(cmd, send, sock);
      }
    });
    sock.on('error', () => undefined);
  });
  servers.push(server);
  return { socket, received, listen: () => new Promise((r) => server.listen(socket, () => r())) };
}

async function connect(socket: string, opts: Parameters<typeof QmpClient.connect>[1] = {}): Promise<QmpClient> {
  const c = await QmpClient.connect(socket, opts);
  clients.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<QmpError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof QmpError) return e;
    throw e;
  }
  throw new Error('expected a QmpError');
}

describe('QmpClient against a scripted fake QEMU', () => {
  it('reads the greeting, negotiates capabilities first, and matches replies by id', async () => {
    const q = fakeQemu((cmd, send) => {
      if (cmd.execute === 'query-status') send({ return: { running: false, status: 'prelaunch' }, id: cmd.id });
    });
    await q.listen();
    const c = await connect(q.socket);
    expect(c.greeting.version.qemu).toEqual({ major: 7, minor: 2, micro: 22 });
    expect(await c.execute('query-status')).toEqual({ running: false, status: 'prelaunch' });
    expect(q.received.map((r) => r.execute)).toEqual(['qmp_capabilities', 'query-status']);
    expect(q.received[0]!.id).not.toBe(q.received[1]!.id);
  });

  it('delivers events in order, including a double RESET, and answers out-of-order replies correctly', async () => {
    const q = fakeQemu((cmd, send) => {
      if (cmd.execute === 'slow') setTimeout(() => send({ return: 'slow-done', id: cmd.id }), 50);
      if (cmd.execute === 'fast') {
        send({ event: 'RESET', data: { guest: true, reason: 'guest-reset' }, timestamp: { seconds: 1, microseconds: 5 } });
        send({ event: 'RESET', data: { guest: true, reason: 'guest-reset' }, timestamp: { seconds: 1, microseconds: 90000 } });
        send({ return: 'fast-done', id: cmd.id });
        send({ event: 'SHUTDOWN', data: { guest: true, reason: 'guest-shutdown' }, timestamp: { seconds: 2, microseconds: 0 } });
      }
    });
    await q.listen();
    const logged: string[] = [];
    const c = await connect(q.socket, { log: (d, l) => logged.push(`${d} ${l}`) });
    const events: QmpEvent[] = [];
    c.onEvent((e) => events.push(e));
    const [slow, fast] = await Promise.all([c.execute('slow'), c.execute('fast')]);
    expect([slow, fast]).toEqual(['slow-done', 'fast-done']);
    expect(events.map((e) => [e.event, e.data.reason])).toEqual([
      ['RESET', 'guest-reset'],
      ['RESET', 'guest-reset'],
      ['SHUTDOWN', 'guest-shutdown'],
    ]);
    expect(events[1]!.timestamp).toEqual({ seconds: 1, microseconds: 90000 });
    // qmp.log must be identical between runs: event timestamps are dropped
    expect(logged).toContain('in {"event":"SHUTDOWN","data":{"guest":true,"reason":"guest-shutdown"}}');
  });

  it('turns an error reply into QmpError with the class and description', async () => {
    const q = fakeQemu((cmd, send) => send({ error: { class: 'GenericError', desc: 'Could not open \'/nope/x.png\': No such file or directory' }, id: cmd.id }));
    await q.listen();
    const c = await connect(q.socket);
    const e = await rejection(c.screendump('/nope/x.png', true));
    expect(e.code).toBe('E_QMP_COMMAND');
    expect(e.errorClass).toBe('GenericError');
    expect(e.message).toBe("QMP: screendump failed: Could not open '/nope/x.png': No such file or directory");
  });

  it('rejects a pending command when QEMU disconnects mid-command, then refuses new ones', async () => {
    const q = fakeQemu((cmd, _send, sock) => {
      if (cmd.execute === 'query-status') sock.destroy();
    });
    await q.listen();
    const c = await connect(q.socket);
    const e = await rejection(c.execute('query-status'));
    expect(e.code).toBe('E_QMP_DISCONNECTED');
    expect(e.message).toBe('QMP: query-status interrupted: connection closed by QEMU');
    await c.closed;
    expect(c.isOpen).toBe(false);
    expect((await rejection(c.cont())).code).toBe('E_QMP_CLOSED');
  });

  it('times a command out when no reply comes', async () => {
    const q = fakeQemu(() => undefined);
    await q.listen();
    const c = await connect(q.socket);
    const t0 = Date.now();
    const e = await rejection(c.execute('query-status', undefined, 150));
    expect(e.code).toBe('E_QMP_TIMEOUT');
    expect(e.message).toBe('QMP: query-status got no reply within 150 ms');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('treats a disconnect in answer to quit as success', async () => {
    const q = fakeQemu((cmd, _send, sock) => {
      if (cmd.execute === 'quit') sock.end();
    });
    await q.listen();
    const c = await connect(q.socket);
    await c.quit();
    await c.closed;
    expect(q.received.map((r) => r.execute)).toEqual(['qmp_capabilities', 'quit']);
  });

  it('sends format png only when asked (QEMU < 7.1 writes PPM and rejects the argument)', async () => {
    const q = fakeQemu((cmd, send) => send({ return: {}, id: cmd.id }));
    await q.listen();
    const c = await connect(q.socket);
    expect(await c.screendump('/tmp/a.png', true)).toBe('png');
    expect(await c.screendump('/tmp/a.ppm', false)).toBe('ppm');
    expect(q.received.slice(1).map((r) => r.arguments)).toEqual([{ filename: '/tmp/a.png', format: 'png' }, { filename: '/tmp/a.ppm' }]);
  });

  it('keeps retrying until the socket appears (QEMU still starting)', async () => {
    const q = fakeQemu(() => undefined);
    setTimeout(() => void q.listen(), 300);
    const c = await connect(q.socket, { connectTimeoutMs: 5000 });
    expect(c.isOpen).toBe(true);
  });

  it('gives up connecting after the timeout, or at once when aborted', async () => {
    const socket = path.join(dir, 'never.sock');
    const e = await rejection(QmpClient.connect(socket, { connectTimeoutMs: 200 }));
    expect(e.code).toBe('E_QMP_CONNECT');
    expect(e.message).toBe(`QMP: cannot connect to ${socket} (ENOENT)`);
    const ac = new AbortController();
    ac.abort('QEMU exited');
    const a = await rejection(QmpClient.connect(socket, { connectTimeoutMs: 10_000, signal: ac.signal }));
    expect(a.message).toBe(`QMP: gave up connecting to ${socket}: QEMU exited`);
  });

  it('fails the handshake when the peer closes before greeting', async () => {
    const q = fakeQemu(() => undefined, { greet: false });
    servers[servers.length - 1]!.on('connection', (s) => s.end());
    await q.listen();
    const e = await rejection(QmpClient.connect(q.socket, { connectTimeoutMs: 1000 }));
    expect(e.code).toBe('E_QMP_GREETING');
    expect(e.message).toBe('QMP: connection closed by QEMU before the greeting');
  });
});
