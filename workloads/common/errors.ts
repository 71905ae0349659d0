// Typed errors. The CLI maps UserInputError to one clear message and exit code 2; the run machine decides on
// retry from RetryableError vs FatalError, never from message text.

/** Bad input from the user (campaign file, flags, unknown host...): nothing has been changed. Exit code 2. */
export class UserInputError extends Error {
  override name = 'UserInputError';
  /** Where it is wrong: `file:line:col`, a flag name, a host id. */
  readonly where: string | undefined;
  constructor(message: string, where?: string) {
    super(where ? `${where}: ${message}` : message);
    this.where = where;
  }
}

/** A prerequisite is missing (no dockerd, not root, no clang...). The message says what to run. Exit code 2. */
export class PrerequisiteError extends UserInputError {
  override name = 'PrerequisiteError';
}

/** An Error class with its name and a code (`defaultCode` unless given) that an agent's answer carries. */
function codedError(name: string, defaultCode: string) {
  return class extends Error {
    override name = name;
    constructor(
      message: string,
      readonly code = defaultCode,
      /** The agent op that failed, when one request ran several (run.execute). */
      readonly op?: string,
    ) {
      super(message);
    }
  };
}

/** A failure that may pass on another attempt (agent lost, timeout, transient docker error). */
export class RetryableError extends codedError('RetryableError', 'RETRYABLE') {}

/** A failure that will not pass by retrying (invalid run, unsupported enforcement on this host). */
export class FatalError extends codedError('FatalError', 'FATAL') {}

/** A campaign that ended in its `failed` state (no host, a step that failed): not a bug, so no stack trace. Exit 1. */
export class CampaignFailedError extends Error {
  override name = 'CampaignFailedError';
}

export function isRetryable(err: unknown): boolean {
  return err instanceof RetryableError || (typeof err === 'object' && err !== null && (err as { retryable?: unknown }).retryable === true);
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
