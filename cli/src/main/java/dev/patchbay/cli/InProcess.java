package dev.patchbay.cli;

import dev.patchbay.checkpoint.LoadedModel;
import dev.patchbay.execution.SchedulerConfig;
import dev.patchbay.operations.RequestLimits;
import dev.patchbay.operations.Serving;
import dev.patchbay.passes.Budget;

/** What a command plans its operation against: the loaded model, the default memory budget, no request limits. */
final class InProcess {
    private InProcess() {}

    /**
     * {@code batchRows} rows a batch at most ({@link SchedulerConfig#DEFAULT_BATCH_ROWS} for 0, as served), fewer
     * where the memory budget asks it.
     */
    static Serving serving(LoadedModel loaded, int batchRows) {
        long budget = SchedulerConfig.defaultMemoryBudget(
                loaded.transformer().compute().device());
        return new Serving(
                loaded.transformer(),
                new Budget(loaded.config(), loaded.transformer().dataType().getNumOfBytes(), budget),
                RequestLimits.unlimited(batchRows > 0 ? batchRows : SchedulerConfig.DEFAULT_BATCH_ROWS));
    }
}
