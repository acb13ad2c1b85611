package dev.patchbay.attribution;

import java.util.Arrays;

/**
 * The k largest magnitudes of a long list of estimates, largest first, ties in index order: a heap of k primitive
 * indices rather than a sort of boxed items (a request over millions of nodes or edges verifies tens of them).
 */
final class TopK {
    private TopK() {}

    /** Indices of the {@code k} largest {@code magnitude} values, largest first, equal ones in index order. */
    static int[] indices(double[] magnitude, int k) {
        k = Math.min(Math.max(k, 0), magnitude.length);
        if (k == 0) {
            return new int[0];
        }
        // A min-heap, by (magnitude, then later index first), of the best k seen so far.
        int[] heap = new int[k];
        int size = 0;
        for (int i = 0; i < magnitude.length; i++) {
            if (size < k) {
                heap[size] = i;
                siftUp(heap, size++, magnitude);
            } else if (better(i, heap[0], magnitude)) {
                heap[0] = i;
                siftDown(heap, size, magnitude);
            }
        }
        Integer[] order = new Integer[k];
        for (int i = 0; i < k; i++) {
            order[i] = heap[i];
        }
        Arrays.sort(order, (a, b) -> a.equals(b) ? 0 : better(a, b, magnitude) ? -1 : 1);
        return Arrays.stream(order).mapToInt(Integer::intValue).toArray();
    }

    /** Whether a ranks before b: larger magnitude, or equal and earlier. */
    private static boolean better(int a, int b, double[] magnitude) {
        return magnitude[a] > magnitude[b] || (magnitude[a] == magnitude[b] && a < b);
    }

    private static void siftUp(int[] heap, int i, double[] magnitude) {
        while (i > 0) {
            int parent = (i - 1) / 2;
            if (!better(heap[parent], heap[i], magnitude)) {
                return;
            }
            swap(heap, i, parent);
            i = parent;
        }
    }

    private static void siftDown(int[] heap, int size, double[] magnitude) {
        int i = 0;
        while (true) {
            int worst = i;
            for (int child : new int[] {2 * i + 1, 2 * i + 2}) {
                if (child < size && better(heap[worst], heap[child], magnitude)) {
                    worst = child;
                }
            }
            if (worst == i) {
                return;
            }
            swap(heap, i, worst);
            i = worst;
        }
    }

    private static void swap(int[] heap, int i, int j) {
        int t = heap[i];
        heap[i] = heap[j];
        heap[j] = t;
    }
}
