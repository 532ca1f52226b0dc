// Reads a token without showing it: from a pipe as is, or typed at a terminal with echo off.
import { CliError } from './errors.js';

export async function readSecret(prompt: string, what = 'token'): Promise<string> {
  const stdin = process.stdin;
  const value = stdin.isTTY ? await readTyped(prompt) : await readPiped();
  const secret = value.trim();
  if (!secret) throw new CliError(`no ${what} given${stdin.isTTY ? '' : ' on stdin'}`);
  return secret;
}

async function readPiped(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // The first line: `echo $TOKEN | berth login` and a file with a trailing newline both work.
  return (
    Buffer.concat(chunks)
      .toString('utf8')
      .split(/\r?\n/)
      .find((line) => line.trim() !== '') ?? ''
  );
}

function readTyped(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new CliError('interrupted', 130));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
