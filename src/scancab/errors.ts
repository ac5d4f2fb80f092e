import { FormatError, UsageError } from '../errors.js';

export class ScanCabError extends FormatError {
  constructor(message: string, file?: string, where?: string) {
    super('E_SCANCAB', message, { file, where });
  }
}

export class ScanRulesError extends UsageError {
  constructor(message: string, file?: string) {
    super(message, { file });
  }
}
