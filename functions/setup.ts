import { app } from '@azure/functions';
import { loadConfig, type Config } from '../shared/config';
import { shutdownTelemetry, startTelemetry } from '../shared/telemetry';

// Streamed request and response bodies (exports, file uploads) instead of buffering.
// Must run before any function is registered, so index.ts imports this module first.
app.setup({ enableHttpStream: true });

// OpenTelemetry export (Application Insights) when APPLICATIONINSIGHTS_CONNECTION_STRING is
// set. Started while the app loads — before the other function modules load their SDKs and
// before any invocation — and flushed when the host stops the app. Without the setting no
// OpenTelemetry package is loaded at all.
const telemetry = telemetryConfig();
if (telemetry) {
  startTelemetry(telemetry);
  app.hook.appTerminate(() => shutdownTelemetry());
}

function telemetryConfig(): Config['telemetry'] {
  try {
    return loadConfig().telemetry;
  } catch {
    // An invalid configuration is reported by the first invocation (getServices); the app
    // still loads, without telemetry.
    return undefined;
  }
}
