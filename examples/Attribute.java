import dev.patchbay.client.AttributionRequest;
import dev.patchbay.client.AttributionResults;
import dev.patchbay.client.HeadHeatmap;
import dev.patchbay.client.Nodes;
import dev.patchbay.client.PatchbayClient;
import dev.patchbay.proto.v1.Method;
import java.nio.file.Path;

/**
 * Which heads make the bundled model answer Mary rather than John? Run ./patchbay serve first, then
 * java -cp research/target/patchbay-research.jar examples/Attribute.java
 */
public class Attribute {
    public static void main(String[] args) throws Exception {
        try (PatchbayClient client = PatchbayClient.connect("localhost:50051")) {
            String model = client.models().get(0).getName();
            var request = AttributionRequest.forModel(model)
                    .pair("When Mary and John went to the store, John gave a drink to",
                            "When Mary and John went to the store, Mary gave a drink to", " Mary", " John")
                    .method(Method.ATP_STAR).nodes(Nodes.heads()).verifyTopK(10).build();
            AttributionResults results = AttributionResults.collect(client.attribute(request));
            System.out.printf("%-8s %12s %16s%n", "head", "AtP* score", "patched effect");
            for (AttributionResults.Row row : results.top(10)) {
                System.out.printf("%-8s %12.4f %16.4f%n", row.name(), row.estimate(), row.verifiedEffect());
            }
            System.out.println("heatmap: " + HeadHeatmap.write(results, "AtP* on " + model, Path.of("attribute-java-heads.png")));
        }
    }
}
