/** `@vmkeep/cli`: the command line, as a program that tests can run in-process. */
export { type CliIo, processIo } from './io.js';
export { createProgram } from './program.js';
