// The gateway's echo written with the server behaviour: the runtime runs the
// loop, answers each call with its body, and snapshots every `every` messages.
export default async function serverEcho(ctx, every) {
  return ctx.serve({
    state: null,
    snapshot: every === undefined ? undefined : { every },
    handle: (msg, state) => (msg?.type === 'call' ? { state, reply: msg.body } : state),
  });
}
