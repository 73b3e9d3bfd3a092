import { filesSuite } from './files.suite';

filesSuite('folder');
