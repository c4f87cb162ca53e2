import * as nn from './index.js';
import type { Module, ModuleConfig } from './module.js';

/** A layer class that can rebuild itself from its config. */
export interface ConfigurableClass {
  fromConfig(config: ModuleConfig): Module;
}

/**
 * Every class exported by `nn` with its own static `fromConfig`, by name: layers added to
 * `src/nn/index.ts` register themselves. Built on first use (the exports are complete then,
 * whatever order the modules were evaluated in).
 */
let registry: Map<string, ConfigurableClass> | null = null;

function types(): Map<string, ConfigurableClass> {
  if (registry === null) {
    registry = new Map();
    for (const [name, value] of Object.entries(nn)) {
      if (typeof value === 'function' && value.prototype instanceof nn.Module && Object.hasOwn(value, 'fromConfig')) {
        registry.set(name, value as unknown as ConfigurableClass);
      }
    }
  }
  return registry;
}

/**
 * Adds a layer class of your own (a Module subclass with a static `fromConfig`) to the types
 * `moduleFromConfig` and `Sequential.fromConfig` build, under `name` (by default the class's
 * name, which is what `kind` and a `toConfig` type should say).
 */
export function registerModuleType(cls: ConfigurableClass & (abstract new (...args: never[]) => Module), name: string = cls.name): void {
  if (typeof cls !== 'function' || !(cls.prototype instanceof nn.Module) || typeof cls.fromConfig !== 'function') {
    throw new TypeError('registerModuleType: the class must extend Module and have a static fromConfig(config)');
  }
  if (typeof name !== 'string' || name === '') throw new TypeError('registerModuleType: the name must be a non-empty string');
  const existing = types().get(name);
  if (existing !== undefined && existing !== cls) throw new Error(`registerModuleType: the type ${JSON.stringify(name)} is already taken`);
  types().set(name, cls);
}

/** The layer types `moduleFromConfig` knows, sorted. */
export function configTypes(): string[] {
  return [...types().keys()].sort();
}

/**
 * Builds any module from its config (`{ type: 'PReLU', numParameters: 3 }`, a nested
 * `Sequential`, ...). An unknown type is a TypeError that lists the known ones.
 */
export function moduleFromConfig(config: ModuleConfig): Module {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`a layer config must be an object with a "type", got ${config === null ? 'null' : Array.isArray(config) ? 'an Array' : typeof config}`);
  }
  const type = (config as { type?: unknown }).type;
  if (typeof type !== 'string') throw new TypeError(`a layer config needs a string "type", got ${JSON.stringify(type) ?? 'undefined'}`);
  const cls = types().get(type);
  if (cls === undefined) throw new TypeError(`unknown layer type ${JSON.stringify(type)}; the known types are ${configTypes().join(', ')}`);
  return cls.fromConfig(config);
}
