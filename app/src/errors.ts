/** Errors the app raises on purpose, each mapped to one HTTP status in api/errors.ts. */
export class AppError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
export class BadRequestError extends AppError {
  constructor(message: string) {
    super(message, 400);
  }
}
export class UnauthorizedError extends AppError {
  constructor(message = 'missing or invalid API key') {
    super(message, 401);
  }
}
export class NotFoundError extends AppError {
  constructor(message: string) {
    super(message, 404);
  }
}
export class ConflictError extends AppError {
  constructor(message: string) {
    super(message, 409);
  }
}
export class PayloadTooLargeError extends AppError {
  constructor(message: string) {
    super(message, 413);
  }
}
export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string) {
    super(message, 415);
  }
}
export class TooManyRequestsError extends AppError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message, 429);
  }
}
export class UnavailableError extends AppError {
  constructor(
    message: string,
    /** Sent as Retry-After when set: how soon the client may try again. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message, 503);
  }
}
