package dev.patchbay.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.List;

/**
 * DJL attaches an operation's result to the manager of its first input, not to the caller's scope. A pass
 * that starts from an array owned by something long-lived (a request's clean run, the cache) would leave its
 * whole graph there, one batch after another, until that owner closes. Passes therefore start from views
 * their own scope owns.
 */
public final class Scoped {
    private Scoped() {}

    /**
     * A view of {@code array} (no copy) owned by {@code scope}. The view is a new array, so the caller's array
     * stays with its owner.
     */
    public static NDArray view(NDManager scope, NDArray array) {
        NDArray view = array.reshape(array.getShape());
        view.attach(scope);
        return view;
    }

    /** The arrays joined along axis 0, owned by {@code scope}. */
    public static NDArray concat(NDManager scope, List<NDArray> arrays) {
        NDList parts = new NDList(arrays);
        parts.set(0, view(scope, arrays.get(0)));
        return parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts);
    }

    /** The arrays stacked along a new axis 0, owned by {@code scope}. */
    public static NDArray stack(NDManager scope, List<NDArray> arrays) {
        NDList parts = new NDList(arrays);
        parts.set(0, view(scope, arrays.get(0)));
        return NDArrays.stack(parts);
    }
}
