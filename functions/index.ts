/**
 * Entry point of the function app (package.json "main"): importing it registers every
 * function with @azure/functions. Both `func start` and the local host load this file.
 */
import './setup';
import './tenants';
import './auth';
import './users';
import './types';
import './records';
import './revert';
import './erasure';
import './tenant-views';
import './changes';
import './webhooks';
import './projections';
import './files';
import './health';
import './readiness';
import './backups';
import './offboarding';
import './openapi';
import './console';
import './test-faults'; // registers nothing unless TEST_FAULT_HOOKS=on (tests only)
