package dev.patchbay.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One {@code .safetensors} file: an 8-byte little-endian header length, a JSON header naming each tensor's
 * dtype, shape and byte range, then the raw data.
 *
 * <p>Tensor data is memory-mapped, never copied onto the Java heap, and handed to PyTorch, which copies it
 * into memory it owns: a weight must not depend on a mapping that a rewrite of the file could pull away. Half
 * precision is widened to the compute type: fp16 by PyTorch, bf16 here in Java because DJL aborts the JVM on
 * bfloat16 arrays.
 */
public final class SafetensorsFile {
    /** What the header says of one tensor; offsets are relative to the end of the header. */
    public record TensorInfo(String name, String dtype, long[] shape, long begin, long end) {
        long elementCount() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    private static final long MAX_HEADER_BYTES = 100L << 20;
    private static final int BF16_CHUNK = 1 << 20;

    private final Path path;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;

    private SafetensorsFile(Path path, long dataStart, Map<String, TensorInfo> tensors) {
        this.path = path;
        this.dataStart = dataStart;
        this.tensors = tensors;
    }

    /** Reads and checks the header: every tensor's byte range must lie inside the file and match its shape. */
    public static SafetensorsFile open(Path path) {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < 8) {
                throw new CheckpointException(path, "truncated safetensors file: " + size + " bytes, no header");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lengthBytes, 0);
            long headerLength = lengthBytes.flip().getLong();
            if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
                throw new CheckpointException(
                        path,
                        "truncated or corrupt safetensors file: header claims " + headerLength
                                + " bytes but the file has " + size);
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            readFully(channel, header, 8);
            long dataStart = 8 + headerLength;
            Map<String, TensorInfo> tensors = parseHeader(path, new String(header.array(), StandardCharsets.UTF_8));
            for (TensorInfo info : tensors.values()) {
                long expected = info.elementCount() * bytesPerElement(path, info);
                if (info.end - info.begin != expected || info.begin < 0) {
                    throw new CheckpointException(
                            path,
                            "tensor '" + info.name + "' has shape "
                                    + new Shape(info.shape) + " of " + info.dtype + " (" + expected
                                    + " bytes) but its byte range is ["
                                    + info.begin + ", " + info.end + ")");
                }
                if (dataStart + info.end > size) {
                    throw new CheckpointException(
                            path,
                            "truncated safetensors file: tensor '" + info.name + "' needs bytes up to "
                                    + (dataStart + info.end) + " but the file has " + size);
                }
            }
            return new SafetensorsFile(path, dataStart, tensors);
        } catch (IOException e) {
            throw new CheckpointException(path, "cannot read: " + e.getMessage(), e);
        }
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** Loads one tensor into {@code manager} as {@code computeType} (FLOAT32 or FLOAT64). */
    public NDArray load(NDManager manager, String name, DataType computeType) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new CheckpointException(path, "no tensor '" + name + "'");
        }
        Shape shape = new Shape(info.shape);
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long length = info.end - info.begin;
            ByteBuffer mapped = length == 0
                    ? ByteBuffer.allocateDirect(0)
                    : channel.map(FileChannel.MapMode.READ_ONLY, dataStart + info.begin, length);
            mapped.order(ByteOrder.LITTLE_ENDIAN);
            if (info.dtype.equals("BF16")) {
                return widenBf16(manager, mapped.asShortBuffer(), shape, computeType);
            }
            DataType stored = storedType(info);
            try (NDArray view = manager.create(mapped, shape, stored)) {
                return ownedCopy(view, computeType);
            }
        } catch (IOException e) {
            throw new CheckpointException(path, "cannot read tensor '" + name + "': " + e.getMessage(), e);
        }
    }

    private static NDArray widenBf16(NDManager manager, ShortBuffer source, Shape shape, DataType computeType) {
        int count = Math.toIntExact(shape.size());
        ByteBuffer floats = ByteBuffer.allocateDirect(count * 4).order(ByteOrder.nativeOrder());
        short[] chunk = new short[Math.min(count, BF16_CHUNK)];
        for (int done = 0; done < count; done += chunk.length) {
            int n = Math.min(chunk.length, count - done);
            source.get(chunk, 0, n);
            for (int i = 0; i < n; i++) {
                // bf16 is the top half of an IEEE float32.
                floats.putInt((chunk[i] & 0xFFFF) << 16);
            }
        }
        floats.flip();
        try (NDArray widened = manager.create(floats, shape, DataType.FLOAT32)) {
            return ownedCopy(widened, computeType);
        }
    }

    /**
     * A copy in memory PyTorch owns. {@code view} wraps a Java buffer without copying it (DJL's
     * createNdFromByteBuffer), and PyTorch's {@code to()} returns the same tensor when the dtype already
     * matches, so an explicit clone is needed for the weight to outlive the buffer.
     */
    private static NDArray ownedCopy(NDArray view, DataType computeType) {
        return view.getDataType() == computeType ? view.duplicate() : view.toType(computeType, false);
    }

    private static DataType storedType(TensorInfo info) {
        return switch (info.dtype) {
            case "F32" -> DataType.FLOAT32;
            case "F16" -> DataType.FLOAT16;
            case "F64" -> DataType.FLOAT64;
            default -> throw new IllegalStateException("unchecked dtype " + info.dtype);
        };
    }

    private static int bytesPerElement(Path path, TensorInfo info) {
        return switch (info.dtype) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            case "F64" -> 8;
            default ->
                throw new CheckpointException(
                        path,
                        "tensor '" + info.name + "' has dtype " + info.dtype
                                + "; supported are F32, F16, BF16 and F64");
        };
    }

    private static Map<String, TensorInfo> parseHeader(Path path, String json) {
        JsonObject root;
        try {
            root = JsonParser.parseString(json).getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw new CheckpointException(path, "corrupt safetensors header: " + e.getMessage(), e);
        }
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> entry : root.entrySet()) {
            if (entry.getKey().equals("__metadata__")) {
                continue;
            }
            try {
                JsonObject t = entry.getValue().getAsJsonObject();
                var shapeJson = t.getAsJsonArray("shape");
                long[] shape = new long[shapeJson.size()];
                long elements = 1;
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = shapeJson.get(i).getAsLong();
                    if (shape[i] < 0) {
                        throw new CheckpointException(
                                path, "tensor '" + entry.getKey() + "' has a negative dimension: " + shapeJson);
                    }
                    try {
                        elements = Math.multiplyExact(elements, shape[i]);
                    } catch (ArithmeticException overflow) {
                        throw new CheckpointException(
                                path,
                                "tensor '" + entry.getKey() + "' has more elements than fit in a file: " + shapeJson);
                    }
                }
                var offsets = t.getAsJsonArray("data_offsets");
                if (offsets.get(0).getAsLong() < 0
                        || offsets.get(1).getAsLong() < offsets.get(0).getAsLong()) {
                    throw new CheckpointException(
                            path,
                            "tensor '" + entry.getKey() + "' has data_offsets " + offsets + " that are not a range");
                }
                tensors.put(
                        entry.getKey(),
                        new TensorInfo(
                                entry.getKey(),
                                t.get("dtype").getAsString(),
                                shape,
                                offsets.get(0).getAsLong(),
                                offsets.get(1).getAsLong()));
            } catch (CheckpointException e) {
                throw e;
            } catch (RuntimeException e) {
                throw new CheckpointException(
                        path,
                        "corrupt safetensors header entry for tensor '" + entry.getKey() + "': " + e.getMessage(),
                        e);
            }
        }
        return tensors;
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }
}
