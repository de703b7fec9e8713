/**
 * Reading a file an operator named: only a regular file, only up to a size. A FIFO would block
 * forever, a device like /dev/zero never ends, a directory is a mistake; each is refused at
 * once by name. The file is opened without blocking (a FIFO opens without a writer) and
 * checked on the open descriptor, so a path swapped for a symlink after a check changes
 * nothing, and at most `maxBytes` + 1 bytes are ever read.
 */
import { constants, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { InputError } from './errors.ts';
import type { Outcome } from './outcomes.ts';

export type FileRefusal = 'missing' | 'not-regular' | 'too-large' | 'unreadable';

export class FileRefusedError extends InputError {
  constructor(
    readonly reason: FileRefusal,
    message: string,
    outcome: Outcome,
  ) {
    super(message, outcome);
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function describeSize(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${bytes / (1024 * 1024)} MiB`
    : bytes >= 1024
      ? `${bytes / 1024} KiB`
      : `${bytes} bytes`;
}

export interface ReadLimits {
  maxBytes: number;
  /** What the file is, for messages (e.g. "--snp-report"). */
  what: string;
  /** What a refusal stands for: whose input the file is (errors.ts InputError). */
  outcome: Outcome;
}

/** The file's bytes, or a FileRefusedError that says what is wrong with it. */
export async function readRegularFile(file: string, limits: ReadLimits): Promise<Buffer> {
  const { maxBytes, what } = limits;
  const refuse = (reason: FileRefusal, message: string) =>
    new FileRefusedError(reason, `${what}: ${file} ${message}`, limits.outcome);
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw refuse('missing', 'is missing');
    if (code === 'EACCES' || code === 'EPERM') throw refuse('unreadable', 'is not readable (permission denied)');
    throw refuse('unreadable', `cannot be opened (${code ?? (err as Error).message})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw refuse('not-regular', `is ${kindOf(st)}, not a regular file; give the file itself`);
    if (st.size > maxBytes)
      throw refuse(
        'too-large',
        `is ${describeSize(st.size)}, more than the ${describeSize(maxBytes)} such a file can be`,
      );
    // One byte more than allowed: a file that grew since fstat is still caught.
    const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > maxBytes) {
      buf.fill(0);
      throw refuse('too-large', `grew past ${describeSize(maxBytes)} while it was read`);
    }
    return buf.subarray(0, n);
  } catch (err) {
    if (err instanceof FileRefusedError) throw err;
    throw refuse('unreadable', `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  } finally {
    await fh.close();
  }
}
