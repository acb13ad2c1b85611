package dev.patchbay.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;

/**
 * Where a model's arrays live and its passes run: DJL's PyTorch engine and one device. Created once per model
 * and handed down, so that every scope a pass opens is on the model's device (DJL's own default would be
 * whatever device it found first, silently).
 */
public record ComputeContext(Engine engine, Device device) {
    /** The engine Patchbay runs on; DJL finds engines by name. */
    private static final String ENGINE = "PyTorch";

    /** The CPU of this process. */
    public static ComputeContext cpu() {
        return new ComputeContext(Engine.getEngine(ENGINE), Device.cpu());
    }

    /**
     * The device named by {@code spec}: {@code cpu}; {@code cuda} or {@code cuda:N} (fails when PyTorch sees no
     * such GPU, never falling back to the CPU in silence); or {@code auto}, the first GPU if PyTorch sees one,
     * else the CPU. DJL sees a GPU only when it has loaded a CUDA build of libtorch (README, "GPU").
     */
    public static ComputeContext parse(String spec) {
        Engine engine = Engine.getEngine(ENGINE);
        String s = spec.strip().toLowerCase(java.util.Locale.ROOT);
        if (s.equals("cpu")) {
            return new ComputeContext(engine, Device.cpu());
        }
        if (s.equals("auto")) {
            return new ComputeContext(engine, usable(engine, 0) ? Device.gpu(0) : Device.cpu());
        }
        java.util.regex.Matcher cuda =
                java.util.regex.Pattern.compile("(?:cuda|gpu)(?::(\\d+))?").matcher(s);
        if (!cuda.matches()) {
            throw new IllegalArgumentException("--device: unknown '" + spec + "'; use auto, cpu, cuda or cuda:N");
        }
        int index = cuda.group(1) == null ? 0 : Integer.parseInt(cuda.group(1));
        if (!engine.hasCapability(ai.djl.engine.StandardCapabilities.CUDA)) {
            throw new IllegalArgumentException("--device " + spec + ": PyTorch " + engine.getVersion() + " sees 0 GPUs"
                    + " (the loaded libtorch has no CUDA support: a CPU build, or its CUDA libraries did not load;"
                    + " see the README's GPU section)");
        }
        if (!usable(engine, index)) {
            throw new IllegalArgumentException("--device " + spec + ": PyTorch " + engine.getVersion()
                    + " has CUDA but cannot place an array on GPU " + index + " (no such device?)");
        }
        return new ComputeContext(engine, Device.gpu(index));
    }

    /**
     * Whether an array can live on GPU {@code index}, asked of libtorch itself: DJL's own GPU count goes through a
     * second copy of the CUDA runtime loaded by JNA, and said 0 on an H200 where libtorch's CUDA worked.
     */
    private static boolean usable(Engine engine, int index) {
        if (!engine.hasCapability(ai.djl.engine.StandardCapabilities.CUDA)) {
            return false;
        }
        try (NDManager probe = engine.newBaseManager(Device.gpu(index))) {
            probe.zeros(new ai.djl.ndarray.types.Shape(1));
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** What runs the passes, for logs: the device, the engine's version and where its native library is. */
    public String describe() {
        String library = System.getenv().getOrDefault("PYTORCH_LIBRARY_PATH", "DJL's bundled libtorch");
        return device + " (PyTorch " + engine.getVersion() + ", " + library + ")";
    }

    /** The context of arrays owned by {@code manager}. */
    public static ComputeContext of(NDManager manager) {
        return new ComputeContext(manager.getEngine(), manager.getDevice());
    }

    /** A new scope on this device: every array a pass creates in it is freed when it closes. */
    public NDManager newScope() {
        return engine.newBaseManager(device);
    }
}
