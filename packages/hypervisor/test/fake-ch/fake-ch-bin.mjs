/**
 * Plays the `cloud-hypervisor` process for driver tests. It takes the real binary's
 * `--api-socket path=…` argument and listens on that socket, but serves no HTTP itself: it
 * registers with the test's fake (whose control socket the wrapper script puts in
 * FAKE_CH_CONTROL), which gives it a backend socket, and pipes every API connection there. So the driver really spawns, signals and reaps a process and
 * really talks HTTP over its socket, while the test keeps the state machine, the call log and
 * the fault injection in its own process.
 *
 * Exits when the fake says so (a guest power-off, `vmm.shutdown`), when the fake goes away, or
 * on a signal, like the real VMM.
 */
import net from 'node:net';

const socketArg = process.argv.indexOf('--api-socket');
const apiSocket = process.argv[socketArg + 1]?.replace(/^path=/, '');
const controlPath = process.env.FAKE_CH_CONTROL;
if (socketArg < 0 || !apiSocket || !controlPath) {
  process.stderr.write('fake cloud-hypervisor: need --api-socket path=… and FAKE_CH_CONTROL\n');
  process.exit(2);
}

const control = net.connect(controlPath);
control.setEncoding('utf8');
control.on('error', () => process.exit(1));
// Without its fake the process has nothing to serve: end with it, leave no orphan behind.
control.on('close', () => process.exit(1));
control.write(`${JSON.stringify({ type: 'hello', pid: process.pid, apiSocket })}\n`);

let buffered = '';
control.on('data', (chunk) => {
  buffered += chunk;
  for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
    const message = JSON.parse(buffered.slice(0, nl));
    buffered = buffered.slice(nl + 1);
    if (message.type === 'backend') serve(message.socket);
    if (message.type === 'exit') {
      if (message.stderr) process.stderr.write(message.stderr);
      process.exit(message.code);
    }
  }
});

function serve(backendSocket) {
  const server = net.createServer((client) => {
    const backend = net.connect(backendSocket);
    client.pipe(backend).pipe(client);
    client.on('error', () => backend.destroy());
    backend.on('error', () => client.destroy());
  });
  server.listen(apiSocket);
}
