// One socket write per event-loop turn for a Redis connection, instead of one per command.
//
// ioredis writes every command to its socket as it is issued: a hub that queues a batch of tasks, or a worker whose
// jobs finish together, makes one write system call per command, and on loopback each one also runs the receiving
// side's network stack (a quarter of the hub's CPU under load was spent there). Corking the socket on the first write
// of a turn and uncorking it on the next tick sends everything issued meanwhile as one writev. The bytes and their
// order are unchanged, so replies still match commands; a command waits at most until the current turn ends.
// (ioredis's own autopipelining regroups commands into pipelines instead, which BullMQ does not support.)
import type { Socket } from 'node:net';
import type { Redis } from 'ioredis';

const coalesced = new WeakSet<Socket>();

/** Makes `redis` cork its socket for the rest of each event-loop turn; applies again after every reconnect. */
export function coalesceWrites(redis: Redis): Redis {
  const wrap = () => {
    const socket = (redis as unknown as { stream?: Socket }).stream;
    if (!socket || coalesced.has(socket) || typeof socket.cork !== 'function') return;
    coalesced.add(socket);
    const write = socket.write;
    let corked = false;
    const uncork = () => {
      corked = false;
      socket.uncork();
    };
    socket.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      return write.apply(this, args);
    } as Socket['write'];
  };
  redis.on('connect', wrap);
  wrap();
  return redis;
}
