import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Search attributes every incident keeps up to date, so responders can list and filter incidents
 * in the API and the Temporal UI. The embedded server registers them at start (see scripts/stack.ts).
 */
export const SEARCH_ATTRIBUTES = {
  status: defineSearchAttributeKey('HoldfastStatus', SearchAttributeType.KEYWORD),
  severity: defineSearchAttributeKey('HoldfastSeverity', SearchAttributeType.KEYWORD),
  cluster: defineSearchAttributeKey('HoldfastCluster', SearchAttributeType.KEYWORD),
  namespace: defineSearchAttributeKey('HoldfastNamespace', SearchAttributeType.KEYWORD),
  pod: defineSearchAttributeKey('HoldfastPod', SearchAttributeType.KEYWORD),
  source: defineSearchAttributeKey('HoldfastSource', SearchAttributeType.KEYWORD),
} as const;

export const SEARCH_ATTRIBUTE_NAMES: string[] = Object.values(SEARCH_ATTRIBUTES).map((key) => key.name);
