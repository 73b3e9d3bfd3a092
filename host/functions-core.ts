/**
 * A stand-in for the module `@azure/functions-core`, which the Azure Functions Node.js
 * worker provides to `@azure/functions`. Installing it before `@azure/functions` is first
 * loaded makes every `app.http/timer/cosmosDB(...)` call arrive here with its full trigger
 * metadata (route, methods, schedule, container) and handler: the same registrations the
 * real host receives, so there is no second route table to keep in sync.
 */
import Module = require('node:module');

export interface Binding {
  type: string;
  direction: 'in' | 'out';
  name?: string;
  route?: string;
  methods?: string[];
  schedule?: string;
  runOnStartup?: boolean;
  containerName?: string;
  databaseName?: string;
  [key: string]: unknown;
}

export interface Registration {
  name: string;
  bindings: Record<string, Binding>;
  trigger: Binding;
  handler: (...args: unknown[]) => unknown;
}

export type HookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation';
type HookCallback = (context: unknown) => unknown;

export interface CoreShim {
  registrations: Registration[];
  hooks: Record<HookName, HookCallback[]>;
  programmingModel: unknown;
}

const CORE = '@azure/functions-core';
let installed: CoreShim | undefined;

export function installFunctionsCore(log: (level: string, message: string) => void = () => undefined): CoreShim {
  if (installed) return installed;
  const shim: CoreShim = {
    registrations: [],
    hooks: { appStart: [], appTerminate: [], preInvocation: [], postInvocation: [] },
    programmingModel: undefined,
  };
  const api = {
    setProgrammingModel(model: unknown) {
      shim.programmingModel = model;
    },
    getProgrammingModel() {
      return shim.programmingModel;
    },
    registerFunction(metadata: { name: string; bindings: Record<string, Binding> }, callback: (...args: unknown[]) => unknown) {
      const trigger = Object.values(metadata.bindings).find((b) => /trigger$/i.test(b.type));
      if (!trigger) throw new Error(`Function ${metadata.name} has no trigger`);
      if (shim.registrations.some((r) => r.name === metadata.name)) throw new Error(`Function ${metadata.name} is registered twice`);
      const reg: Registration = { name: metadata.name, bindings: metadata.bindings, trigger, handler: callback };
      shim.registrations.push(reg);
      return { dispose: () => shim.registrations.splice(shim.registrations.indexOf(reg), 1) };
    },
    registerHook(name: HookName, callback: HookCallback) {
      const list = shim.hooks[name];
      if (!list) throw new Error(`Unsupported hook ${name}`);
      list.push(callback);
      return { dispose: () => list.splice(list.indexOf(callback), 1) };
    },
    log(level: string, category: string, message: string) {
      log(level, `[${category}] ${message}`);
    },
  };
  const M = Module as unknown as {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
    _cache: Record<string, unknown>;
  };
  const original = M._resolveFilename;
  M._resolveFilename = function (request: string, ...rest: unknown[]) {
    if (request === CORE) return CORE;
    return original.call(this, request, ...rest);
  };
  M._cache[CORE] = { id: CORE, filename: CORE, loaded: true, exports: api, children: [], paths: [] };
  installed = shim;
  return shim;
}
