// The `ctx` object a script receives. One class per registry, with every
// native as a prototype method, so a parked process costs one small object
// rather than a closure per native. Call natives as `ctx.sleep(...)`;
// destructured natives lose their process.

import type { Registry } from '../../natives/registry.js';
import { BeamlineError, ErrorCodes } from '../errors.js';
import { secretRef } from '../../natives/secret.js';
import type { Proc } from './process.js';

const kProc = Symbol('beamline.process');

export function makeCtxFactory(registry: Registry): (proc: Proc) => object {
  class Ctx {
    readonly [kProc]: Proc;
    constructor(proc: Proc) {
      this[kProc] = proc;
    }
    get self(): string {
      return this[kProc].pid;
    }
    get args(): readonly unknown[] {
      return this[kProc].args;
    }
    get run(): number {
      return this[kProc].run;
    }
    /** A reference to a secret for callApi (see natives/secret.ts): pure, nothing recorded. */
    secret(name: string): string {
      return secretRef(name);
    }
  }
  for (const def of registry.values()) {
    Object.defineProperty(Ctx.prototype, def.name, {
      value: function (this: Ctx | undefined, ...args: unknown[]) {
        const proc = (this as Partial<Ctx> | undefined)?.[kProc];
        // Destructured (`const { sleep } = ctx`), the native has no `this` and
        // so no process: say which rule was broken instead of a TypeError
        // about a symbol. Binding every native per process would cost each
        // parked process a closure per native.
        if (proc === undefined) {
          throw new BeamlineError(
            ErrorCodes.NATIVE_MISUSE,
            `ctx.${def.name} was called without its ctx (destructured or detached); call natives as methods: ctx.${def.name}(...)`,
          );
        }
        return proc.call(def, args);
      },
      writable: false,
      enumerable: true,
    });
  }
  return (proc) => new Ctx(proc);
}
