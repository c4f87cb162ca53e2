import { Module, type AnyModule, type ModuleConfig } from './module.js';

/** A layer class that can rebuild itself from its config. */
export interface ConfigurableClass {
  fromConfig(config: ModuleConfig): AnyModule;
}

/**
 * The config types by name. This module imports no layer: `src/nn/index.ts` registers every
 * layer class it exports (`registerLayers`), so the layers, the containers that build their
 * children from configs and this registry import one another in one direction only.
 */
const registry = new Map<string, ConfigurableClass>();

function isConfigurable(value: unknown): value is ConfigurableClass & (abstract new (...args: never[]) => AnyModule) {
  return typeof value === 'function' && value.prototype instanceof Module && Object.hasOwn(value, 'fromConfig') && typeof (value as { fromConfig?: unknown }).fromConfig === 'function';
}

/**
 * Registers every export of the given module namespaces that is a Module subclass with its own
 * static `fromConfig`, under its export name (`src/nn/index.ts` and the ModelWorker's thread use it).
 */
export function registerLayers(...namespaces: Record<string, unknown>[]): void {
  for (const ns of namespaces) {
    for (const [name, value] of Object.entries(ns)) if (isConfigurable(value)) registerModuleType(value, name);
  }
}

/**
 * Adds a layer class of your own (a Module subclass with a static `fromConfig`) to the types
 * `moduleFromConfig`, `Sequential.fromConfig` and `Graph.fromConfig` build, under `name` (by
 * default the class's name, which is what `kind` and a `toConfig` type should say).
 */
export function registerModuleType(cls: ConfigurableClass & (abstract new (...args: never[]) => AnyModule), name: string = cls.name): void {
  if (!isConfigurable(cls)) {
    throw new TypeError('registerModuleType: the class must extend Module and have a static fromConfig(config)');
  }
  if (typeof name !== 'string' || name === '') throw new TypeError('registerModuleType: the name must be a non-empty string');
  const existing = registry.get(name);
  if (existing !== undefined && existing !== cls) throw new Error(`registerModuleType: the type ${JSON.stringify(name)} is already taken`);
  registry.set(name, cls);
}

/** The layer types `moduleFromConfig` knows, sorted. */
export function configTypes(): string[] {
  return [...registry.keys()].sort();
}

/**
 * Builds any module from its config (`{ type: 'PReLU', numParameters: 3 }`, a nested
 * `Sequential` or `Graph`, ...). An unknown type is a TypeError that lists the known ones.
 */
export function moduleFromConfig(config: ModuleConfig): AnyModule {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`a layer config must be an object with a "type", got ${config === null ? 'null' : Array.isArray(config) ? 'an Array' : typeof config}`);
  }
  const type = (config as { type?: unknown }).type;
  if (typeof type !== 'string') throw new TypeError(`a layer config needs a string "type", got ${JSON.stringify(type) ?? 'undefined'}`);
  const cls = registry.get(type);
  if (cls === undefined) throw new TypeError(`unknown layer type ${JSON.stringify(type)}; the known types are ${configTypes().join(', ')}`);
  return cls.fromConfig(config);
}

/**
 * Builds the child at `path` of a container's config (`where` names the container's call, e.g.
 * 'Graph.fromConfig: node'): an error of the same class whose message names the path and the
 * child's type. Containers nested inside build their own children with `build(config, path)`,
 * so a deep error names the full path ("layer1.0.conv1") once.
 */
export function childFromConfig(config: unknown, path: string, where: string): AnyModule {
  const type = config !== null && typeof config === 'object' ? (config as { type?: unknown }).type : undefined;
  const nested = typeof type === 'string' ? containers.get(type) : undefined;
  if (nested !== undefined) return nested(config, path, where);
  try {
    return moduleFromConfig(config as ModuleConfig);
  } catch (e) {
    const what = typeof type === 'string' ? ` (${type})` : '';
    const Err = e instanceof RangeError ? RangeError : e instanceof TypeError ? TypeError : Error;
    throw new Err(`${where} ${path}${what}: ${(e as Error).message}`, { cause: e });
  }
}

/** Containers' builders that take the path of the config they build, by type (Sequential, Graph). */
const containers = new Map<string, (config: unknown, path: string, where: string) => AnyModule>();

/** Lets `childFromConfig` build a nested container of `type` with the path and the outer call's name. */
export function registerContainer(type: string, build: (config: unknown, path: string, where: string) => AnyModule): void {
  containers.set(type, build);
}
