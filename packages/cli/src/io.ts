/** Where the CLI reads its environment and writes its output; tests pass their own. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** The `fetch` API calls use (tests pass an in-process server's). */
  fetch?: (request: Request) => Promise<Response>;
}

export const processIo: CliIo = {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};
