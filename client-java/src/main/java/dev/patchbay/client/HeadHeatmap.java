package dev.patchbay.client;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * A layer by head heatmap of head effects, written as PNG, each cell with its number: a diverging scale (blue for
 * negative, white at 0, red for positive) for signed estimates, a sequential one (white to red) for magnitudes such
 * as AtP* scores, which are never negative.
 */
public final class HeadHeatmap {
    private static final int CELL = 56;
    private static final int MARGIN = 60;

    private HeadHeatmap() {}

    /**
     * Draws each head's estimate (its output over all positions, or the sum over positions) from {@code rows};
     * returns the file written.
     */
    public static Path write(List<AttributionResults.Row> rows, String title, Path file) throws IOException {
        List<AttributionResults.Row> heads =
                rows.stream().filter(r -> r.site().equals("z")).toList();
        if (heads.isEmpty()) {
            throw new IllegalArgumentException("no head outputs (z) in the results: ask for Nodes.heads()");
        }
        int layers =
                heads.stream().mapToInt(AttributionResults.Row::layer).max().orElseThrow() + 1;
        int width = heads.stream().mapToInt(AttributionResults.Row::unit).max().orElseThrow() + 1;
        double[][] grid = new double[layers][width];
        // The sign of each verified head's true effect, shown beside a magnitude (AtP* scores have none).
        String[][] verifiedSign = new String[layers][width];
        for (AttributionResults.Row r : heads) {
            grid[r.layer()][r.unit()] += r.estimate();
            if (!Double.isNaN(r.verifiedEffect()) && r.position() < 0) {
                verifiedSign[r.layer()][r.unit()] = r.verifiedEffect() < 0 ? " (-)" : " (+)";
            }
        }
        double limit = 1e-12;
        boolean signed = false;
        for (double[] row : grid) {
            for (double v : row) {
                limit = Math.max(limit, Math.abs(v));
                signed |= v < 0;
            }
        }
        System.setProperty("java.awt.headless", "true");
        String caption = signed
                ? "estimate per head: blue < 0 < red, white at 0; rows are layers"
                : "estimate per head (a magnitude, >= 0): darker is larger; (+)/(-): sign of the verified effect";
        Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
        Graphics2D probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics();
        int text = Math.max(
                probe.getFontMetrics(font).stringWidth(title),
                probe.getFontMetrics(font).stringWidth(caption));
        probe.dispose();
        BufferedImage image = new BufferedImage(
                Math.max(2 * MARGIN + width * CELL, text + 20), 2 * MARGIN + layers * CELL, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, image.getWidth(), image.getHeight());
        g.setFont(font);
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < width; h++) {
                int x = MARGIN + h * CELL;
                int y = MARGIN + l * CELL;
                g.setColor(color(grid[l][h] / limit));
                g.fillRect(x, y, CELL, CELL);
                g.setColor(Color.DARK_GRAY);
                g.setStroke(new BasicStroke(1));
                g.drawRect(x, y, CELL, CELL);
                g.setColor(Math.abs(grid[l][h] / limit) > 0.6 ? Color.WHITE : Color.BLACK);
                String sign = verifiedSign[l][h] == null ? "" : verifiedSign[l][h];
                g.drawString(String.format("%.2f", grid[l][h]), x + 6, y + CELL / 2 - 2);
                g.drawString(sign, x + 6, y + CELL / 2 + 13);
            }
            g.setColor(Color.BLACK);
            g.drawString("L" + l, MARGIN - 30, MARGIN + l * CELL + CELL / 2 + 5);
        }
        for (int h = 0; h < width; h++) {
            g.drawString("H" + h, MARGIN + h * CELL + CELL / 2 - 8, MARGIN - 8);
        }
        g.drawString(title, 10, 20);
        g.drawString(caption, 10, image.getHeight() - 20);
        g.dispose();
        ImageIO.write(image, "png", file.toFile());
        return file;
    }

    /** White at 0, saturating to red at +1 and blue at -1. */
    private static Color color(double t) {
        t = Math.max(-1, Math.min(1, t));
        int fade = (int) Math.round(255 * (1 - Math.abs(t)));
        return t >= 0 ? new Color(255, fade, fade) : new Color(fade, fade, 255);
    }
}
