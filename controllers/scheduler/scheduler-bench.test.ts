// The scheduler micro benchmark runs end to end on a small cluster (figures are not asserted:
// they depend on the machine) and rejects bad options by name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchScheduler } from './scheduler-bench.js';

void describe('benchScheduler', { timeout: 60_000 }, () => {
  void it('binds every job and reports finite figures', async () => {
    const figures = await benchScheduler({ jobs: 200, nodes: 7 });
    assert.equal(figures.binds, 200);
    assert.equal(figures.jobs, 200);
    assert.equal(figures.nodes, 7);
    assert.equal(figures.workers, 2);
    for (const value of [figures.seconds, figures.syncSeconds, figures.bindsPerSec, figures.cpuMsPerBind]) {
      assert.ok(Number.isFinite(value) && value > 0, String(value));
    }
    assert.ok(figures.syncSeconds <= figures.seconds);
  });

  void it('names the option and the rule on bad input', async () => {
    await assert.rejects(benchScheduler({ jobs: 0, nodes: 1 }), /option jobs must be an integer >= 1, got 0/);
    await assert.rejects(benchScheduler({ jobs: 1, nodes: 1.5 }), /option nodes must be an integer >= 1, got 1\.5/);
    await assert.rejects(benchScheduler({ jobs: 1, nodes: 1, workers: -1 }), /option workers must be an integer >= 1/);
  });
});
