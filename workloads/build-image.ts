// Entry point for scripts (testbed/prereqs.sh): `tsx workloads/build-image.ts`. `ironlab image build` calls the
// same buildImageCommand(); a missing prerequisite prints one line and exits 2, like the CLI.
import { buildImageCommand } from './image.ts';
import { UserInputError } from './common/errors.ts';

try {
  process.exitCode = await buildImageCommand();
} catch (err) {
  process.stderr.write(`ironlab image build: ${(err as Error).message}\n`);
  process.exitCode = err instanceof UserInputError ? 2 : 1;
}
