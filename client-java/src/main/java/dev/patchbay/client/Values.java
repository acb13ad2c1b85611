package dev.patchbay.client;

import com.google.protobuf.ByteString;
import dev.patchbay.proto.v1.ValueEncoding;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.util.List;

/** A block's values as floats, from packed little-endian bytes (one bulk copy) or the repeated field. */
final class Values {
    private Values() {}

    static float[] of(ValueEncoding encoding, ByteString packed, List<Float> repeated) {
        ByteBuffer bytes = packed.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        return switch (encoding) {
            case FLOAT32_LE -> {
                float[] values = new float[packed.size() / Float.BYTES];
                bytes.asFloatBuffer().get(values);
                yield values;
            }
            case FLOAT64_LE -> {
                DoubleBuffer doubles = bytes.asDoubleBuffer();
                float[] values = new float[doubles.remaining()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) doubles.get(i);
                }
                yield values;
            }
            default -> {
                float[] values = new float[repeated.size()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = repeated.get(i);
                }
                yield values;
            }
        };
    }
}
