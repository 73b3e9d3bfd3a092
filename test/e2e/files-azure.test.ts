import { filesSuite } from './files.suite';

filesSuite('azure');
