// An idle server: it waits for messages it never gets (the `idle servers` measurement).
export default async function idleServer(ctx) {
  return ctx.serve({ state: { n: 0 }, handle: (msg, state) => (msg?.type === 'call' ? { state, reply: state.n } : { n: state.n + 1 }) });
}
