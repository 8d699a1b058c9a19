export const STDIO_PRELOAD: string;
export function testRunnerArgs(
  files: string[],
  opts?: { concurrency?: number | string; reporter?: string },
): string[];
