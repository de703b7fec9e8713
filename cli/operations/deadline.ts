/**
 * The overall deadline of an operator command (doctor, rehearse). A per-request timeout
 * bounds silence, not a server that accepts and never answers or trickles a byte at a time:
 * only a deadline on the whole run does (issue 21). Every call the run waits on goes through
 * `bound`, which gives up at the deadline and names what did not answer, so the command ends
 * with a partial report instead of hanging. The signal tears down what can be torn down
 * (the Kubernetes requests, cli/operations/kube.ts).
 */
import { setMaxListeners } from 'node:events';
import { RecoveryError } from '../../lambda/shared/errors.ts';

/** A call the run stopped waiting for at its deadline: no answer, so `unreachable`. */
export class DidNotAnswer extends RecoveryError {
  constructor(
    readonly what: string,
    readonly seconds: number,
  ) {
    super('unreachable', `did not answer: ${what} (no answer within the ${seconds} s deadline)`);
    this.name = 'DidNotAnswer';
  }
}

export class RunDeadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  readonly at: number;

  constructor(
    readonly seconds: number,
    ms: number = seconds * 1000,
  ) {
    this.at = Date.now() + ms;
    // One listener per call waited on (doctor asks many at once); each is removed when its call settles.
    setMaxListeners(0, this.controller.signal);
    this.timer = setTimeout(
      () => this.controller.abort(new Error(`the ${seconds} s deadline passed`)),
      Math.max(0, ms),
    );
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get passed(): boolean {
    return this.controller.signal.aborted;
  }

  remainingMs(): number {
    return Math.max(0, this.at - Date.now());
  }

  /** `p`'s answer, or DidNotAnswer(what) when the deadline comes first (or has passed). */
  bound<T>(what: string, p: Promise<T>): Promise<T> {
    const signal = this.controller.signal;
    if (signal.aborted) {
      p.catch(() => undefined);
      return Promise.reject(new DidNotAnswer(what, this.seconds));
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new DidNotAnswer(what, this.seconds));
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err instanceof Error && signal.aborted ? new DidNotAnswer(what, this.seconds) : err);
        },
      );
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

/**
 * After an operator command has answered, the process ends even when a request the deadline
 * gave up on still holds a socket open (a silent server): a timer that does not itself keep
 * the process alive.
 */
export function exitSoonAfter(done: Promise<void>, graceMs = 2_000): Promise<void> {
  return done.finally(() => {
    setTimeout(() => process.exit(), graceMs).unref();
  });
}
