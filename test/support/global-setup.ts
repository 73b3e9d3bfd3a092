import { execFileSync } from 'node:child_process';

/** The end-to-end tests run the compiled local host, exactly as `npm start` does. */
export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
