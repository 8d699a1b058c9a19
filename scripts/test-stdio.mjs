// Preloaded (--import) into the test runner and, through its inherited execArgv, into every test file's
// child process. It makes stdout and stderr blocking when they are pipes.
//
// Why: with --test-force-exit, a test file's child calls process.exit() as soon as its last test ends.
// Node writes to a pipe asynchronously, so whatever the runner had not read yet was dropped, and the
// report silently lost the file's last verdicts while the run still passed (nodejs/node#64833: CI once
// reported 8 fewer tests than ran). A blocking write cannot be left behind by process.exit().
for (const stream of [process.stdout, process.stderr]) stream._handle?.setBlocking?.(true);
