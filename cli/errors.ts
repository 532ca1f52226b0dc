/** A command line that does not make sense: exit 2, with the usage of the command. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The noun whose usage to show (`node`, `pool`, ...); none: the whole list. */
    readonly noun?: string,
  ) {
    super(message);
  }
}

/** Anything else that stops a command: one line on stderr, exit 1 (or the code given). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** An answer of the API in its error shape `{error:{code, message, field?}}`. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly apiMessage: string,
    readonly field?: string,
  ) {
    super(`${apiMessage} (${code}${field ? `, field ${field}` : ''})`);
  }
}

/** The API refused the token (401). */
export class UnauthorizedError extends CliError {}

/** The API could not be reached at all. */
export class NetworkError extends CliError {}
