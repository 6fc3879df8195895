// The smallest beamline process: log, sleep durably, return a value.
//   npx runtime spawn scripts/hello.js world
export default async function hello(ctx, name = 'world') {
  ctx.log(`hello, ${name} from ${ctx.self}`);
  await ctx.sleep('100ms');
  return { greeting: `hello, ${name}`, pid: ctx.self, run: ctx.run };
}
