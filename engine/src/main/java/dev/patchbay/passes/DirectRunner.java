package dev.patchbay.passes;

import dev.patchbay.model.HookedTransformer;

/** Runs every pass at once on the calling thread, with no cache and no merging. */
final class DirectRunner implements PassRunner {
    private final PassContext context;
    private final PassTally tally = new PassTally();

    DirectRunner(HookedTransformer model) {
        this.context = PassContext.of(model);
    }

    @Override
    public HookedTransformer model() {
        return context.model();
    }

    @Override
    public <T> T run(Pass<T> pass) {
        T result = pass.run(context);
        pass.count(result, tally);
        return result;
    }

    @Override
    public PassTally tally() {
        return tally;
    }
}
