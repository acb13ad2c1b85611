package dev.patchbay.research.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The counting rules on a hand-written trace, and on one libtorch writes for a known piece of work. */
class OpCountTest {
    private static String op(String name, long thread, double start, double duration) {
        return String.format(
                "{\"ph\": \"X\", \"name\": \"%s\", \"tid\": %d, \"ts\": %s, \"dur\": %s}",
                name, thread, start, duration);
    }

    @Test
    void countsTopLevelOpsAndThoseThatCompute() {
        String trace = "{\"traceEvents\": ["
                + String.join(
                        ",",
                        op("aten::matmul", 1, 0, 10),
                        op("aten::mm", 1, 1, 5), // inside matmul: not counted again
                        op("aten::view", 1, 11, 1), // a view: counted, computes nothing
                        op("aten::to", 1, 13, 4), // a conversion that copies: computes
                        op("aten::_to_copy", 1, 14, 2),
                        op("aten::copy_", 1, 14.5, 1),
                        op("aten::to", 1, 18, 1), // to the type it has: nothing
                        op("aten::add", 2, 0, 3), // another thread's op is top-level there
                        "{\"ph\": \"i\", \"name\": \"aten::mul\", \"tid\": 1, \"ts\": 30}", // not a complete event
                        "{\"ph\": \"X\", \"name\": \"cudaLaunchKernel\", \"tid\": 1, \"ts\": 40, \"dur\": 1}")
                + "]}";
        OpCount.Counts counts = OpCount.count(trace);
        assertEquals(5, counts.ops());
        assertEquals(3, counts.computing());
        assertEquals(Map.of("aten::matmul", 1, "aten::to", 1, "aten::add", 1), counts.byName());
    }

    @Test
    void countsWhatLibtorchRecords() {
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager("PyTorch")) {
            ai.djl.ndarray.NDArray x = m.ones(new ai.djl.ndarray.types.Shape(4, 4));
            OpCount.Counts counts = OpCount.of(
                    () -> x.matMul(x).add(x).reshape(16).toType(ai.djl.ndarray.types.DataType.FLOAT64, false));
            assertEquals(3, counts.computing(), counts.byName().toString()); // matmul, add, the conversion
            assertEquals(1, counts.byName().get("aten::matmul"));
        }
    }
}
