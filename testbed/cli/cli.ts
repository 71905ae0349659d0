// The ironlab command line. Each command lives in its own module; this file only declares flags and maps
// errors to exit codes: bad input or a missing prerequisite -> one clear line and exit 2.
import { Command, InvalidArgumentError, Option } from 'commander';
import { CampaignFailedError, UserInputError } from '../../workloads/common/errors.ts';
import { IRONLAB_VERSION } from '../../workloads/common/version.ts';
import { registerSimCommand } from '../../orchestrator/commands/sim-command.ts';
import { registerTestbedCommand } from './testbed-command.ts';
import { BACKEND_KINDS } from '../../agents/backends/registry.ts';

// A closed pipe (`ironlab report | head`, or a parent that died mid-campaign) ends the output, never the work:
// a campaign must still tear down, mark its status and keep what it measured, so the process is not ended here
// and writes after it go nowhere.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });

const program = new Command('ironlab')
  .description('Measure and enforce CPU isolation between containers under network load (IRON, NSDI 2018)')
  .version(IRONLAB_VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} takes a whole number >= 1`);
  return n;
};

function portNumber(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError('--port takes a whole number from 0 to 65535');
  return n;
}

program
  .command('run')
  .description('run a campaign (a YAML file or a built-in name; default: the built-in paper campaign on simulated hosts)')
  .argument('[campaign]', 'campaign file or built-in name (see `ironlab campaigns`)')
  .option('--db <file>', 'result store, a SQLite file (default: $IRONLAB_STORE, else ironlab.db)')
  .option(
    '--store <url|file>',
    'result store: postgres://USER@HOST[:PORT]/DB (shared by a lab) or a SQLite file (default: $IRONLAB_STORE, else ironlab.db)',
  )
  .option('--resume <id>', 'finish an interrupted campaign from its ledger, never repeating a completed run')
  .option('--json', 'print the report as JSON (the `ironlab report --format json` contract) instead of a table')
  .option('--no-progress', 'no progress line')
  .option('--log <file>', 'orchestrator and agent log (default: ironlab.log beside the store)')
  .option(
    '--baseline <file|db[:id]>',
    "check every scenario against a stored campaign (a JSON report, or a store and campaign id; default id: the store's latest done campaign of the same name): one worse beyond both 95% intervals fails",
  )
  .option('--junit <file>', "write the checks (the campaign file's expectations, --baseline) as JUnit XML")
  .option('--allow-inconclusive', 'a check whose 95% interval straddles its bound passes (default: it fails)')
  .option(
    '--sim-profile <file>',
    'run every host of the campaign as a simulated host with this profile (e.g. written by ironlab calibrate)',
  )
  .option('--slurm', "lease the campaign's hosts from Slurm (an exclusive allocation; its agents run as job steps; released at the end)")
  .option('--partition <name>', "Slurm partition to lease from (implies --slurm; overrides the file's slurm.partition)")
  .addHelpText(
    'after',
    '\nExit codes: 0 done, checks passed; 1 some runs failed for good; 2 bad input or a missing prerequisite;\n3 a CI check failed (an expect: entry of the campaign file, or --baseline); 130 interrupted.',
  )
  .action(async (campaign: string | undefined, o) => {
    if (campaign && o.resume) throw new UserInputError('give a campaign or --resume ID, not both', '--resume');
    const { runCampaign } = await import('./run-command.ts');
    const r = await runCampaign({
      campaign,
      db: o.db,
      store: o.store,
      resume: o.resume,
      json: Boolean(o.json),
      progress: o.progress,
      log: o.log,
      baseline: o.baseline,
      junit: o.junit,
      allowInconclusive: Boolean(o.allowInconclusive),
      simProfile: o.simProfile,
      slurm: Boolean(o.slurm),
      partition: o.partition,
    });
    process.exitCode = r.exitCode;
  });

program
  .command('campaigns')
  .description('list the built-in campaigns')
  .action(async () => {
    const { listBuiltinCampaigns } = await import('../../orchestrator/campaign/spec.ts');
    for (const c of listBuiltinCampaigns()) process.stdout.write(`${c.name.padEnd(14)} ${c.description}\n`);
  });

program
  .command('report')
  .description('report a stored campaign: penalty factors with 95% confidence intervals')
  .option('--db <file>', 'result store, a SQLite file (default: $IRONLAB_STORE, else ironlab.db)')
  .option('--store <url|file>', 'result store: postgres://USER@HOST[:PORT]/DB or a SQLite file (default: $IRONLAB_STORE, else ironlab.db)')
  .option('--campaign <id>', 'campaign id (default: the latest)')
  .addOption(
    new Option('--format <format>', 'output format (html: one self-contained file, use with --out DIR)')
      .choices(['table', 'json', 'csv', 'ndjson', 'html'])
      .default('table'),
  )
  .option('--out <path>', 'write to a file instead of stdout (html: a directory, report.html is written in it)')
  .option('--compare <ids...>', 'two campaigns side by side per scenario: --compare A B (table or json)')
  .option('--list', 'list the campaigns in the store')
  .action(async (o) => {
    const { reportCommand } = await import('../../orchestrator/commands/report-command.ts');
    await reportCommand({
      db: o.db,
      store: o.store,
      campaign: o.campaign,
      format: o.format,
      out: o.out,
      list: Boolean(o.list),
      compare: o.compare,
    });
  });

program
  .command('image')
  .description('the workload image (Debian rootfs with sysbench and iperf3) for the docker backend')
  .command('build')
  .description('build it with debootstrap + docker import, tagged with a hash of its recipe (a no-op when present)')
  .action(async () => {
    const { buildImageCommand } = await import('../../workloads/image.ts');
    process.exitCode = await buildImageCommand();
  });

program
  .command('agent')
  .description('run a host agent that dials the orchestrator')
  .requiredOption('--connect <url>', "the orchestrator's WebSocket URL (ws://host:port)")
  .requiredOption('--token-file <file>', 'file holding the shared token (mode 0600)')
  .addOption(new Option('--backend <kind>', 'host backend').choices(BACKEND_KINDS).default('sim'))
  .requiredOption('--host-id <name>', 'this host as the campaign names it')
  .option('--reap-grace <seconds>', 'reap everything after the orchestrator has been gone this long', positiveInt('--reap-grace'), 30)
  .option('--nic <dev>', "real lab hosts: the traffic NIC whose queue IRQs go to the victim's core (ixgbe, ice...)")
  .option(
    '--container-block <cidr>',
    "real lab hosts: this host's container address block on the NIC's subnet (169.254.X.Y/N), for runs across hosts",
  )
  .addOption(
    new Option('--orchestrator-pid <pid>', 'exit (after reaping) when this local orchestrator process is gone')
      .argParser(positiveInt('--orchestrator-pid'))
      .hideHelp(),
  )
  .action(async (o) => {
    const { runAgentCommand } = await import('../../agents/agent-command.ts');
    // IRONLAB_NIC, IRONLAB_CONTAINER_BLOCK: a node's own NIC and block, as a Slurm task prolog exports them.
    process.exitCode = await runAgentCommand({
      connect: o.connect,
      tokenFile: o.tokenFile,
      backend: o.backend,
      hostId: o.hostId,
      reapGraceS: o.reapGrace,
      orchestratorPid: o.orchestratorPid,
      nic: o.nic ?? process.env.IRONLAB_NIC,
      containerBlock: o.containerBlock ?? process.env.IRONLAB_CONTAINER_BLOCK,
    });
  });

program
  .command('reap')
  .description('remove what ironlab agents left on this host (containers, networks, filters, changed values): a Slurm epilog runs it')
  .addOption(new Option('--backend <kind>', 'host backend').choices(BACKEND_KINDS).default('docker'))
  .requiredOption('--host-id <name>', 'this host as campaigns name it')
  .action(async (o) => {
    const { createBackend } = await import('../../agents/agent-command.ts');
    const removed = await (await createBackend(o.backend, o.hostId, process.env.IRONLAB_NIC ?? null)).reap();
    process.stdout.write(`reaped ${removed.length} resource(s) on ${o.hostId}${removed.length ? `: ${removed.join(', ')}` : ''}\n`);
  });

program
  .command('status')
  .description("ironlab's campaigns in the Slurm queue (running: on which nodes; pending: why)")
  .option('--json', 'print as JSON')
  .action(async (o) => {
    const { slurmQueue } = await import('../slurm-lease.ts');
    const jobs = slurmQueue();
    if (o.json) return void process.stdout.write(JSON.stringify(jobs, null, 2) + '\n');
    if (!jobs.length) return void process.stdout.write('no ironlab jobs in the Slurm queue\n');
    const rows = [
      ['job', 'user', 'state', 'elapsed', 'limit', 'nodes', 'where / why', 'campaign'],
      ...jobs.map((j) => [j.jobId, j.user, j.state, j.elapsed, j.timeLimit, j.nodes, j.where, j.campaign]),
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    process.stdout.write(
      rows
        .map((r) =>
          r
            .map((c, i) => c.padEnd(widths[i]))
            .join('  ')
            .trimEnd(),
        )
        .join('\n') + '\n',
    );
  });

program
  .command('calibrate')
  .description("measure this host's receive costs with real containers and eBPF accounting, and write a simulator profile (root)")
  .argument('[campaign]', 'campaign whose receive cells (message sizes, rates) and control are measured (default: local-docker)')
  .requiredOption('--out <file>', 'where to write the profile JSON (use it with ironlab run --sim-profile FILE)')
  .option('--repetitions <n>', 'repetitions of each flood', positiveInt('--repetitions'), 3)
  .option('--duration <s>', 'measurement window of each flood, seconds', positiveInt('--duration'), 3)
  .action(async (campaign: string | undefined, o) => {
    const { calibrateCommand } = await import('../../orchestrator/commands/calibrate-command.ts');
    process.exitCode = await calibrateCommand({ campaign, out: o.out, repetitions: o.repetitions, durationS: o.duration });
  });

program
  .command('serve')
  .description(
    'a live dashboard of a result store: campaigns, their progress and penalties as they come, their HTML reports, and the Slurm queue when Slurm is configured here',
  )
  .option('--db <file>', 'result store (SQLite; default ironlab.db, or $IRONLAB_STORE)')
  .option('--store <url>', 'result store as a URL or file (same as --db for a SQLite file)')
  .option('--port <n>', 'port (0: any free one)', portNumber, 7790)
  .option('--host <addr>', 'address to bind; any but 127.0.0.1/::1/localhost asks for a token', '127.0.0.1')
  .option(
    '--token <token>',
    'the token to ask for (default: $IRONLAB_SERVE_TOKEN, else one generated and printed once when not on loopback)',
  )
  .action(async (o) => {
    const { serveCommand } = await import('../../orchestrator/serve/serve-command.ts');
    // the lab's Slurm queue on the page when Slurm is configured here (the testbed's, $SLURM_CONF or /etc/slurm)
    const { slurmConfigured, slurmQueue } = await import('../slurm-lease.ts');
    const queue = slurmConfigured() ? slurmQueue : undefined;
    process.exitCode = await serveCommand({ db: o.db, store: o.store, port: o.port, host: o.host, token: o.token, queue });
  });

registerSimCommand(program);
registerTestbedCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = exitCodeFor(err);
}

function exitCodeFor(err: unknown): number {
  const e = err as { code?: string; exitCode?: number; message?: string };
  if (typeof e?.code === 'string' && e.code.startsWith('commander.')) {
    // commander already printed the message (or the help/version text)
    return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
  }
  if (err instanceof UserInputError) {
    process.stderr.write(`ironlab: ${err.message}\n`);
    return 2;
  }
  if (err instanceof CampaignFailedError) {
    process.stderr.write(`ironlab: ${err.message}\n`);
    return 1;
  }
  process.stderr.write(`ironlab: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}
