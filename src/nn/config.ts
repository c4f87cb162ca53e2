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
