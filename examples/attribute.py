"""Which heads make the bundled model answer Mary rather than John? Run ./patchbay serve first."""
import patchbay
from patchbay import plots

CLEAN = "When Mary and John went to the store, John gave a drink to"
NOISE = "When Mary and John went to the store, Mary gave a drink to"

with patchbay.Client("localhost:50051") as client:
    model = client.models()[0].name
    pair = patchbay.Pair(CLEAN, NOISE, answer=" Mary", wrong=" John")
    # The progress bar shows the stream (scoring, then verifying); results print once it is done.
    run = client.attribute(model, pair, method="atp-star", nodes="heads", verify_top_k=10, progress=True).collect()
    print(run.top(10).to_string(index=False))
    print("AtP* scores are magnitudes (>= 0); verified_effect is each head's true, signed effect on the metric.")
    print("heatmap:", plots.head_heatmap(run, "attribute-py-heads.png"))
    print("estimates vs effects:", plots.verified_scatter(run, "attribute-py-verified.png"))
    run.save("attribute-py-run.npz")
    print("run saved: attribute-py-run.npz (patchbay.load_run reads it back)")
