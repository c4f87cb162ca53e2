#!/usr/bin/env node
import { runDemo } from './demo.js';

const usage = `usage: liven <command>

commands:
  demo     the dying ReLU in one layer, measured on both sides of zero
  help     this text`;

function main(argv: string[]): number {
  const [command] = argv;
  switch (command) {
    case 'demo':
      runDemo();
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(usage);
      return 0;
    default:
      console.error(`liven: unknown command ${JSON.stringify(command)}\n\n${usage}`);
      return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
