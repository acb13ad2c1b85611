"""Which heads make the bundled model answer Mary rather than John? Run ./patchbay serve first."""
import patchbay
from patchbay import plots

CLEAN = "When Mary and John went to the store, John gave a drink to"
NOISE = "When Mary and John went to the store, Mary gave a drink to"

with patchbay.Client("localhost:50051") as client:
    model = client.models()[0].name
    pair = patchbay.Pair(CLEAN, NOISE, answer=" Mary", wrong=" John")
    run = client.attribute(model, pair, method="atp-star", nodes="heads", verify_top_k=10, progress=True)
    for event in run:  # results stream as they are computed
        if isinstance(event, patchbay.Verified):
            print(f"verified #{event.rank}: {event.name} estimate {event.estimate:.3f}, effect {event.effect:.3f}")
    print(run.top(10).to_string(index=False))
    print("heatmap:", plots.head_heatmap(run, "heads.png"))
    print("estimates vs effects:", plots.verified_bars(run, "verified.png"))
