package dev.patchbay.client;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * A layer by head heatmap of head effects, written as PNG, each cell with its number: a diverging scale (blue for
 * negative, white at 0, red for positive) for signed estimates, a grey one (white to black) for magnitudes such as
 * AtP* scores, which are never negative and carry no sign; there a verified head's cell shows the sign of its
 * patched effect, in red (+) or blue (-). The grid is centred under its title and caption.
 */
public final class HeadHeatmap {
    private static final int CELL = 56;
    private static final int MARGIN = 60;

    private HeadHeatmap() {}

    /**
     * Draws each head's score from finished results, reading from their summary whether the scores are magnitudes;
     * returns the file written.
     */
    public static Path write(AttributionResults results, String title, Path file) throws IOException {
        AttributionEvent.Summary summary = results.summary();
        return write(results.rows(), summary == null || summary.magnitudes(), title, file);
    }

    /**
     * Draws each head's estimate (its output over all positions, or the sum over positions) from {@code rows}, read
     * as magnitudes unless some are negative (results without a summary say no more); returns the file written.
     */
    public static Path write(List<AttributionResults.Row> rows, String title, Path file) throws IOException {
        boolean anyNegative = rows.stream().anyMatch(r -> r.site().equals("z") && r.estimate() < 0);
        return write(rows, !anyNegative, title, file);
    }

    private static Path write(List<AttributionResults.Row> rows, boolean magnitudes, String title, Path file)
            throws IOException {
        BufferedImage image = draw(rows, magnitudes, title);
        ImageIO.write(image, "png", file.toFile());
        return file;
    }

    /** The picture itself, for the tests to read back. */
    static BufferedImage draw(List<AttributionResults.Row> rows, boolean magnitudes, String title) {
        List<AttributionResults.Row> heads =
                rows.stream().filter(r -> r.site().equals("z")).toList();
        if (heads.isEmpty()) {
            throw new IllegalArgumentException("no head outputs (z) in the results: ask for Nodes.heads()");
        }
        int layers =
                heads.stream().mapToInt(AttributionResults.Row::layer).max().orElseThrow() + 1;
        int width = heads.stream().mapToInt(AttributionResults.Row::unit).max().orElseThrow() + 1;
        double[][] grid = new double[layers][width];
        String[][] verifiedSign = new String[layers][width];
        for (AttributionResults.Row r : heads) {
            grid[r.layer()][r.unit()] += r.estimate();
            if (!Double.isNaN(r.verifiedEffect()) && r.position() < 0) {
                verifiedSign[r.layer()][r.unit()] = r.verifiedEffect() < 0 ? "(-)" : "(+)";
            }
        }
        double limit = 1e-12;
        for (double[] row : grid) {
            for (double v : row) {
                limit = Math.max(limit, Math.abs(v));
            }
        }
        System.setProperty("java.awt.headless", "true");
        String caption = magnitudes
                ? "score per head (a magnitude, >= 0, no sign): darker is larger; (+) red / (-) blue: sign of the"
                        + " verified effect"
                : "estimate per head (change of the metric): red raises it, blue lowers it, white at 0";
        Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
        Graphics2D probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics();
        FontMetrics metrics = probe.getFontMetrics(font);
        int text = Math.max(metrics.stringWidth(title), metrics.stringWidth(caption));
        probe.dispose();
        int gridWidth = width * CELL;
        BufferedImage image = new BufferedImage(
                Math.max(2 * MARGIN + gridWidth, text + 20), 2 * MARGIN + layers * CELL, BufferedImage.TYPE_INT_RGB);
        // The grid centred in the picture (a long caption makes the picture wider than the grid).
        int left = (image.getWidth() - gridWidth) / 2;
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, image.getWidth(), image.getHeight());
        g.setFont(font);
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < width; h++) {
                int x = left + h * CELL;
                int y = MARGIN + l * CELL;
                double t = grid[l][h] / limit;
                g.setColor(magnitudes ? grey(t) : diverging(t));
                g.fillRect(x, y, CELL, CELL);
                g.setColor(Color.DARK_GRAY);
                g.setStroke(new BasicStroke(1));
                g.drawRect(x, y, CELL, CELL);
                String sign = magnitudes ? verifiedSign[l][h] : null;
                Color ink = Math.abs(t) > 0.6 ? Color.WHITE : Color.BLACK;
                int middle = y + CELL / 2 + metrics.getAscent() / 2 - 2;
                centred(g, String.format("%.2f", grid[l][h]), x + CELL / 2, sign == null ? middle : middle - 7, ink);
                if (sign != null) {
                    centred(g, sign, x + CELL / 2, middle + 8, sign.equals("(-)") ? LOWERS : RAISES);
                }
            }
            g.setColor(Color.BLACK);
            g.drawString("L" + l, left - 30, MARGIN + l * CELL + CELL / 2 + 5);
        }
        for (int h = 0; h < width; h++) {
            centred(g, "H" + h, left + h * CELL + CELL / 2, MARGIN - 8, Color.BLACK);
        }
        centred(g, title, image.getWidth() / 2, 20, Color.BLACK);
        centred(g, caption, image.getWidth() / 2, image.getHeight() - 20, Color.BLACK);
        g.dispose();
        return image;
    }

    /** Matplotlib's tab:red and tab:blue, as the Python client's figures draw a sign. */
    static final Color RAISES = new Color(0xd6, 0x27, 0x28);

    static final Color LOWERS = new Color(0x1f, 0x77, 0xb4);

    private static void centred(Graphics2D g, String text, int x, int baseline, Color colour) {
        g.setColor(colour);
        g.drawString(text, x - g.getFontMetrics().stringWidth(text) / 2, baseline);
    }

    /** White at 0, saturating to red at +1 and blue at -1. */
    private static Color diverging(double t) {
        t = Math.max(-1, Math.min(1, t));
        int fade = (int) Math.round(255 * (1 - Math.abs(t)));
        return t >= 0 ? new Color(255, fade, fade) : new Color(fade, fade, 255);
    }

    /** White at 0, black at 1. */
    private static Color grey(double t) {
        int level = (int) Math.round(255 * (1 - Math.max(0, Math.min(1, t))));
        return new Color(level, level, level);
    }
}
