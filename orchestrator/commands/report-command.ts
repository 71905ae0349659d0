// `ironlab report`: a stored campaign as a table, the JSON contract, or tidy CSV.
import { existsSync, writeFileSync } from 'node:fs';
import { Store } from '../store/store.ts';
import { reportCsv } from '../report/index.ts';
import { UserInputError } from '../errors.ts';
import { campaignSummary, renderSummary } from './summary.ts';

export interface ReportOptions {
  db: string;
  campaign?: string;
  format: 'table' | 'json' | 'csv';
  out?: string;
  list: boolean;
}

export async function reportCommand(o: ReportOptions): Promise<void> {
  if (!existsSync(o.db)) throw new UserInputError('no result store here (run `ironlab run` first, or give --db FILE)', o.db);
  const store = Store.open(o.db);
  try {
    if (o.list) {
      const lines = store.campaigns().map((c) => `${c.id}  ${c.name.padEnd(14)} ${c.mode.padEnd(8)} ${c.status.padEnd(8)} ${c.createdAt}`);
      emit(lines.join('\n') + '\n', o.out);
      return;
    }
    const id = o.campaign ?? store.latestCampaign()?.id;
    if (!id) throw new UserInputError('the store holds no campaign yet', o.db);
    const s = campaignSummary(store, id);
    const text =
      o.format === 'json' ? JSON.stringify(s.json, null, 2) + '\n' : o.format === 'csv' ? reportCsv(s.campaign, s.records) : renderSummary(s, !o.out && Boolean(process.stdout.isTTY)) + '\n';
    emit(text, o.out);
  } finally {
    store.close();
  }
}

function emit(text: string, out: string | undefined): void {
  if (out) writeFileSync(out, text);
  else process.stdout.write(text);
}
