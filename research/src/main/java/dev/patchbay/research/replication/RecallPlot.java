package dev.patchbay.research.replication;

import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The paper's Figure-1-style plot: cost of verified recall against k on log-log axes, the oracle's diagonal dashed. */
final class RecallPlot {
    /** One colour per method family, the same in every plot. */
    private static final Map<String, Color> COLOURS = Map.ofEntries(
            Map.entry("EAP", new Color(0x1f77b4)),
            Map.entry("EAP-IG", new Color(0xe377c2)),
            Map.entry("AtP", new Color(0x1f77b4)),
            Map.entry("AtP+QKfix", new Color(0x17becf)),
            Map.entry("AtP*", new Color(0xd62728)),
            Map.entry("Iterative", new Color(0x2ca02c)),
            Map.entry("Subsampling", new Color(0x8c564b)),
            Map.entry("Blocks", new Color(0xff7f0e)),
            Map.entry("Hierarchical", new Color(0x9467bd)));

    private RecallPlot() {}

    static void write(Replication.Outcome outcome, List<Replication.Curve> curves, Path png) throws IOException {
        XYChart chart = new XYChartBuilder()
                .width(760)
                .height(640)
                .title(outcome.setting() + ", " + outcome.nodeSet() + " (" + outcome.nodes() + " " + outcome.unit()
                        + ", " + outcome.pairs() + (outcome.pairs() == 1 ? " pair)" : " pairs)"))
                .xAxisTitle("k: the true top k " + outcome.unit() + " all verified")
                .yAxisTitle("forward passes per prompt pair")
                .build();
        chart.getStyler().setXAxisLogarithmic(true).setYAxisLogarithmic(true);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS).setChartBackgroundColor(Color.WHITE);
        int k = outcome.top().size();
        double[] ks = IntStream.rangeClosed(1, k).asDoubleStream().toArray();
        for (Replication.Curve c : curves) {
            XYSeries s = chart.addSeries(String.format("%s  (R = %.1f)", c.label(), c.relativeCost()), ks, c.cost());
            s.setMarker(SeriesMarkers.NONE);
            s.setLineWidth(2f);
            s.setLineColor(COLOURS.getOrDefault(c.family(), Color.BLACK));
        }
        XYSeries oracle = chart.addSeries("oracle (cost = k)", ks, ks);
        oracle.setMarker(SeriesMarkers.NONE);
        oracle.setLineStyle(SeriesLines.DASH_DASH);
        oracle.setLineColor(Color.GRAY);
        BitmapEncoder.saveBitmap(chart, png.toString(), BitmapEncoder.BitmapFormat.PNG);
    }
}
