package dev.patchbay.server.mapping;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.patchbay.features.Dictionary;
import dev.patchbay.model.ModelConfig;
import dev.patchbay.nodes.Edge;
import dev.patchbay.nodes.EdgeBlock;
import dev.patchbay.nodes.EffectBlock;
import dev.patchbay.nodes.Node;
import dev.patchbay.nodes.NodeKind;
import dev.patchbay.proto.v1.DictionaryInfo;
import dev.patchbay.proto.v1.ModelInfo;
import dev.patchbay.proto.v1.ReaderKind;
import dev.patchbay.proto.v1.ValueEncoding;
import dev.patchbay.proto.v1.WriterKind;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/** The engine's results as protocol messages. */
public final class Protos {
    private Protos() {}

    public static dev.patchbay.proto.v1.NodeKind kind(NodeKind kind) {
        return switch (kind) {
            case QUERY -> dev.patchbay.proto.v1.NodeKind.QUERY;
            case KEY -> dev.patchbay.proto.v1.NodeKind.KEY;
            case VALUE -> dev.patchbay.proto.v1.NodeKind.VALUE;
            case HEAD_OUTPUT -> dev.patchbay.proto.v1.NodeKind.HEAD_OUTPUT;
            case NEURON -> dev.patchbay.proto.v1.NodeKind.NEURON;
            case ATTN_OUT -> dev.patchbay.proto.v1.NodeKind.ATTN_OUT;
            case MLP_OUT -> dev.patchbay.proto.v1.NodeKind.MLP_OUT;
            case RESIDUAL -> dev.patchbay.proto.v1.NodeKind.RESIDUAL;
        };
    }

    public static dev.patchbay.proto.v1.Node node(Node n) {
        return dev.patchbay.proto.v1.Node.newBuilder()
                .setKind(kind(n.kind()))
                .setLayer(n.layer())
                .setUnit(n.unit())
                .setPosition(n.position())
                .setName(n.name())
                .build();
    }

    /**
     * How a response's blocks carry their values: packed where the request asked (float64 for float64 models, else
     * float32), the repeated field otherwise.
     */
    public static ValueEncoding encoding(boolean packed, String dtype) {
        if (!packed) {
            return ValueEncoding.VALUES_REPEATED;
        }
        return dtype.equals("float64") ? ValueEncoding.FLOAT64_LE : ValueEncoding.FLOAT32_LE;
    }

    /**
     * Values as little-endian bytes in one buffer, wrapped without a copy: the repeated field took one call per value
     * to build and to serialise (26-29 ms plus 8-9 ms for a pair's 2.4 million per-position effects).
     */
    private static final VarHandle FLOAT_LE =
            MethodHandles.byteArrayViewVarHandle(float[].class, ByteOrder.LITTLE_ENDIAN);

    static ByteString packed(double[] values, ValueEncoding encoding) {
        if (encoding == ValueEncoding.FLOAT64_LE) {
            ByteBuffer bytes = ByteBuffer.allocate(Double.BYTES * values.length).order(ByteOrder.LITTLE_ENDIAN);
            bytes.asDoubleBuffer().put(values);
            return UnsafeByteOperations.unsafeWrap(bytes.array());
        }
        // Narrowed and written in one pass, straight into the bytes.
        byte[] bytes = new byte[Float.BYTES * values.length];
        for (int i = 0; i < values.length; i++) {
            FLOAT_LE.set(bytes, i * Float.BYTES, (float) values[i]);
        }
        return UnsafeByteOperations.unsafeWrap(bytes);
    }

    public static dev.patchbay.proto.v1.EffectBlock block(EffectBlock b) {
        return block(b, ValueEncoding.VALUES_REPEATED);
    }

    public static dev.patchbay.proto.v1.EffectBlock block(EffectBlock b, ValueEncoding encoding) {
        var out = dev.patchbay.proto.v1.EffectBlock.newBuilder()
                .setKind(kind(b.kind()))
                .setLayer(b.layer())
                .setUnits(b.units());
        if (b.positions() != null) {
            for (int p : b.positions()) {
                out.addPositions(p);
            }
            out.addShape(b.positions().length);
        }
        out.addShape(b.units());
        if (encoding != ValueEncoding.VALUES_REPEATED) {
            return out.setEncoding(encoding)
                    .setPacked(packed(b.values(), encoding))
                    .build();
        }
        for (double v : b.values()) {
            out.addValues((float) v);
        }
        return out.build();
    }

    public static WriterKind writerKind(Edge.WriterKind kind) {
        return switch (kind) {
            case EMBED -> WriterKind.WRITER_EMBED;
            case HEAD -> WriterKind.WRITER_HEAD;
            case MLP -> WriterKind.WRITER_MLP;
        };
    }

    public static ReaderKind readerKind(Edge.ReaderKind kind) {
        return switch (kind) {
            case QUERY -> ReaderKind.READER_QUERY;
            case KEY -> ReaderKind.READER_KEY;
            case VALUE -> ReaderKind.READER_VALUE;
            case MLP -> ReaderKind.READER_MLP;
            case LOGITS -> ReaderKind.READER_LOGITS;
        };
    }

    public static dev.patchbay.proto.v1.Edge edge(Edge e) {
        return dev.patchbay.proto.v1.Edge.newBuilder()
                .setWriterKind(writerKind(e.writer().kind()))
                .setWriterLayer(e.writer().layer())
                .setWriterUnit(e.writer().unit())
                .setReaderKind(readerKind(e.reader().kind()))
                .setReaderLayer(e.reader().layer())
                .setReaderUnit(e.reader().unit())
                .setPosition(e.position())
                .setName(e.name())
                .build();
    }

    /** @param heads heads per layer, which number the writers (embed, then per layer its heads and MLP) */
    public static dev.patchbay.proto.v1.EdgeBlock edgeBlock(EdgeBlock b, int heads, ValueEncoding encoding) {
        var out = dev.patchbay.proto.v1.EdgeBlock.newBuilder()
                .setHeadsPerLayer(heads)
                .setReaderKind(readerKind(b.group().kind()))
                .setReaderLayer(b.group().layer())
                .setReaders(b.group().readers())
                .setWriters(b.group().writers());
        if (b.positions() != null) {
            for (int p : b.positions()) {
                out.addPositions(p);
            }
            out.addShape(b.positions().length);
        }
        out.addShape(b.group().readers()).addShape(b.group().writers());
        if (encoding != ValueEncoding.VALUES_REPEATED) {
            return out.setEncoding(encoding)
                    .setPacked(packed(b.values(), encoding))
                    .build();
        }
        for (double v : b.values()) {
            out.addValues((float) v);
        }
        return out.build();
    }

    public static ModelInfo model(
            String name, ModelConfig c, Iterable<String> sites, String dtype, String device, List<Dictionary> dicts) {
        ModelInfo.Builder info = ModelInfo.newBuilder();
        for (Dictionary d : dicts) {
            info.addDictionaries(DictionaryInfo.newBuilder()
                    .setName(d.name())
                    .setSite(d.site())
                    .setInputSite(d.inputSite())
                    .setWidth(d.width())
                    .setActivation(d.activation().id())
                    .setK(d.k()));
        }
        return info.setDtype(dtype)
                .setDevice(device)
                .setName(name)
                .setArchitecture(c.architecture().modelType())
                .setNLayers(c.nLayers())
                .setNHeads(c.nHeads())
                .setNKvHeads(c.nKvHeads())
                .setDModel(c.dModel())
                .setDHead(c.dHead())
                .setDMlp(c.dMlp())
                .setVocabSize(c.vocabSize())
                .setMaxPositions(c.maxPositions())
                .addAllEndOfText(c.endOfText())
                .addAllHookSites(sites)
                .build();
    }
}
