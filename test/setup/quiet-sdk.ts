// Only the SDK's errors: its INFO and WARN lines (expected failures included) drown the test output.
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // Installed already by an earlier file in this process.
}
