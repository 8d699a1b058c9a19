/**
 * What the handlers need of an AWS SDK v3 client: `send(command)`. The real clients satisfy it;
 * tests pass a fake object that records the commands and answers them.
 */
export interface CommandClient {
  send(command: object): Promise<unknown>;
}
