// The live progress line of `ironlab run`: runs done / total, elapsed, ETA (cli-progress). On a terminal it
// redraws in place; in a log (CI, pipes) it prints a plain line at every tenth of the campaign instead.
import cliProgress from 'cli-progress';
import type { CampaignCounts } from './machines/campaign-machine.ts';

export class ProgressView {
  private bar: cliProgress.SingleBar | null = null;
  private lastDecile = -1;
  private readonly started = Date.now();

  constructor(private readonly opts: { enabled: boolean; label: string; stream?: NodeJS.WriteStream }) {}

  update(c: CampaignCounts): void {
    if (!this.opts.enabled || c.total === 0) return;
    const stream = this.opts.stream ?? process.stdout;
    const finished = c.done + c.failed;
    const extra = { failed: c.failed ? `, ${c.failed} failed` : '', retried: c.retried ? `, ${c.retried} retried` : '' };
    if (stream.isTTY) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          {
            stream,
            format: `${this.opts.label} [{bar}] {value}/{total} runs{failed}{retried} | elapsed {duration_formatted} | ETA {eta_formatted}`,
            etaBuffer: 20,
            hideCursor: true,
            clearOnComplete: false,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(c.total, finished, extra);
      }
      this.bar.update(finished, extra);
      return;
    }
    const decile = Math.floor((finished / c.total) * 10);
    if (decile === this.lastDecile) return;
    this.lastDecile = decile;
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = finished > 0 ? (elapsed / finished) * (c.total - finished) : NaN;
    stream.write(
      `${this.opts.label}: ${finished}/${c.total} runs${extra.failed}${extra.retried}, elapsed ${elapsed.toFixed(0)} s, ETA ${Number.isFinite(eta) ? `${eta.toFixed(0)} s` : '?'}\n`,
    );
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
