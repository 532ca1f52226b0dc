import { pino, type Logger } from 'pino';

/** JSON logs on stdout. Fields that could hold a secret are redacted wherever they appear. */
export function createLogger(level: string, name: string): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'userData', '*.userData'],
      censor: '[redacted]',
    },
  });
}
