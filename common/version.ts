import pkg from '../package.json';

export const HOLDFAST_VERSION: string = pkg.version;
