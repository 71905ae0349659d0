// A campaign row for store tests: what the CLI records for a campaign, with nothing in it that a test reads.
import type { NewCampaign } from '../../orchestrator/store/store.ts';

export const testCampaign = (id = 'c1'): NewCampaign => ({
  id,
  name: 'test',
  mode: 'sim',
  createdAt: new Date().toISOString(),
  spec: {},
  specHash: 'h',
  sourcePath: 'x.yaml',
  sourceText: '',
  seed: 1,
  provenance: {},
});
