import { app } from '@azure/functions';

// Streamed request and response bodies (exports, file uploads) instead of buffering.
// Must run before any function is registered, so index.ts imports this module first.
app.setup({ enableHttpStream: true });
